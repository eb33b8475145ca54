/**
 * The auditor's view, end to end with real Temporal, PostgreSQL and agent processes: a session with an approval
 * and a remediation that survives a worker restart is exported with `npm run audit -- export`, replayed with
 * `npm run audit -- replay`, and the org's audit chain verified with `npm run audit -- verify`; tampering with the
 * export or with the audit log is caught. The same export through the API for the auditor role. Exported histories
 * keep their payloads encrypted; the CLI decrypts them with the system's PAYLOAD_KEYS to replay them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { environment, loadEnv } from '../lib/env';
import { startTestSystem, waitUntil, toolCall, type TestSystem } from '../test/harness';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
let sys: TestSystem;
let tech: string;
let approver: string;
let sessionId: string;
let workflowId: string;
let out: string;

const decide = (id: string, body: Record<string, unknown>) => sys.request('POST', `/v1/approvals/${id}/decision`, { key: approver, body });

/** Runs the audit CLI as an auditor would, against the test system's database and Temporal. */
async function audit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = environment({ DATABASE_URL: loadEnv().TEST_DATABASE_URL, TEMPORAL_ADDRESS: sys.temporal.address, LOG_LEVEL: 'silent', PAYLOAD_KEYS: sys.payloadKeys });
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'audit.ts'), ...args], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

beforeAll(async () => {
  sys = await startTestSystem({ agent: true, simulated: 5 });
  tech = sys.keyOf('technician');
  approver = sys.keyOf('approver');
  const devices = [...sys.simulated.values()];
  sessionId = await sys.startSession(tech);
  workflowId = (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).workflowId;

  // A T3 call, approved with a reason.
  let turn = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: devices[0], service: 'Spooler', action: 'restart' }));
  await decide((await sys.waitForApproval(sessionId)).id, { decision: 'approve', reason: 'printing is down' });
  await sys.waitForTurn(sessionId, tech, turn);

  // A remediation over five devices, one at a time, with the worker stopped after the first command.
  turn = await sys.send(sessionId, tech, toolCall('run_remediation', { target: { device_ids: devices }, action: { type: 'service', service: 'Dnscache', action: 'restart' }, batch_size: 1 }));
  await decide((await sys.waitForApproval(sessionId)).id, { decision: 'approve', reason: 'DNS cache is stale' });
  await waitUntil(async () => (await sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } })) >= 2, 'the remediation to start');
  await sys.stopWorker();
  await sys.startWorker();
  await sys.waitForTurn(sessionId, tech, turn, 90_000);
  out = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-audit-'));
}, 240_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
  await sys?.stop();
});

it('exports the session: every run and child history, the audit events, and a manifest of SHA-256 hashes', async () => {
  const res = await audit('export', workflowId, '--out', out);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/approvals: 2 in both the history and the audit log/);
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  expect(manifest.runs.map((r: { role: string }) => r.role).sort()).toEqual(['child', 'session']);
  expect(manifest.orgId).toBe(sys.seed.orgs.acme.id);
  const events = JSON.parse(await readFile(path.join(out, 'audit-events.json'), 'utf8'));
  expect(events.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['approval.requested', 'approval.approved', 'tool.needs_approval']));
  expect(events.every((e: { sessionId: string }) => e.sessionId === sessionId)).toBe(true);
  // The histories keep their payloads encrypted: the services asked for and restarted are nowhere in the files.
  for (const run of manifest.runs) {
    const history = historyFromJSON(JSON.parse(await readFile(path.join(out, run.path), 'utf8')));
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    expect(bytes.includes('binary/encrypted')).toBe(true);
    for (const plain of ['Spooler', 'Dnscache', 'printing is down']) expect(bytes.includes(plain)).toBe(false);
  }
  // Secrets never enter what an auditor exports: no API key, no device secret.
  const secrets = [...sys.seed.credentials.map((c) => c.apiKey), JSON.parse(await readFile(sys.agent!.credentialsFile, 'utf8')).secret as string];
  for (const file of await filesUnder(out)) {
    const content = await readFile(file, 'utf8');
    for (const secret of secrets) expect(content.includes(secret)).toBe(false);
  }
});

it('replays the export against the current workflow code and prints who did what', async () => {
  const res = await audit('replay', out, '--json');
  expect(res.code).toBe(0);
  const report = JSON.parse(res.stdout);
  expect(report.ok).toBe(true);
  expect(report.replays).toHaveLength(2);
  expect(report.replays.every((r: { replays: boolean }) => r.replays)).toBe(true);
  expect(report.crossCheck).toEqual({ matched: 2, missingInAudit: [], missingInHistory: [] });
  const approverId = (await sys.prisma.approval.findFirstOrThrow({ where: { sessionId, status: 'approved' } })).decidedBy;
  const kinds = report.timeline.map((t: { kind: string }) => t.kind);
  expect(kinds).toEqual(expect.arrayContaining(['message', 'model', 'tool', 'approval_requested', 'approval', 'command', 'remediation']));
  expect(report.timeline).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'approval', details: expect.objectContaining({ status: 'approved', approverId, channel: 'api', reason: 'printing is down' }) }),
      expect.objectContaining({ kind: 'remediation', text: expect.stringMatching(/finished: 5 succeeded, 0 failed/) }),
    ]),
  );
  // One command per device of the remediation, each with its device and result, plus the T3 call's.
  const commands = report.timeline.filter((t: { kind: string }) => t.kind === 'command');
  expect(commands).toHaveLength(6);
  expect(commands.every((c: { details: { status: string; deviceId: string } }) => c.details.status === 'succeeded' && c.details.deviceId)).toBe(true);

  const text = await audit('replay', out);
  expect(text.stdout).toMatch(/^replays: /m);
  expect(text.stdout).toMatch(/approval \S+ approved by \S+ via api: "DNS cache is stale"/);
  expect(text.stdout).toMatch(/approvals cross-check: 2 decision\(s\), each in both the history and the audit log/);
});

it('refuses an export whose files were changed after the fact', async () => {
  const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8'));
  const history = path.join(out, manifest.runs[0].path);
  const original = await readFile(history, 'utf8');
  await writeFile(history, original.replace('"eventId": "1"', '"eventId":"1"'));
  try {
    const res = await audit('replay', out);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FILE CHANGED: workflows\/.+: SHA-256 differs from the manifest/);
  } finally {
    await writeFile(history, original);
  }
});

describe('the audit log', () => {
  it('is append-only in the database itself', async () => {
    await expect(sys.prisma.$executeRaw`UPDATE "AuditEvent" SET action = 'nothing' WHERE "sessionId" = ${sessionId}::uuid`).rejects.toThrow(/append-only: UPDATE/);
    await expect(sys.prisma.$executeRaw`DELETE FROM "AuditEvent" WHERE "sessionId" = ${sessionId}::uuid`).rejects.toThrow(/append-only: DELETE/);
    await expect(sys.prisma.$executeRawUnsafe('TRUNCATE "AuditEvent"')).rejects.toThrow(/append-only: TRUNCATE/);
  });

  it('verifies, and names the first broken link when someone with the database owner role edits an event', async () => {
    const slug = sys.seed.orgs.acme.slug;
    const ok = await audit('verify', '--org', slug);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^ok ${slug}: \\d+ events, head [0-9a-f]{64}`, 'm'));

    const victim = await sys.prisma.auditEvent.findFirstOrThrow({ where: { sessionId, action: 'approval.approved' } });
    const tamper = async (reason: string) => {
      await sys.prisma.$transaction([
        sys.prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" DISABLE TRIGGER audit_event_append_only'),
        sys.prisma.$executeRaw`UPDATE "AuditEvent" SET data = jsonb_set(data, '{reason}', to_jsonb(${reason}::text)) WHERE id = ${victim.id}`,
        sys.prisma.$executeRawUnsafe('ALTER TABLE "AuditEvent" ENABLE TRIGGER audit_event_append_only'),
      ]);
    };
    await tamper('approved by the CISO');
    try {
      const broken = await audit('verify', '--org', slug);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(`BROKEN ${slug}: event #${victim.seq} (id ${victim.id}): its content does not match its hash`);
    } finally {
      await tamper((victim.data as { reason: string }).reason);
    }
    expect((await audit('verify', '--org', slug)).code).toBe(0);
  });
});

describe('the audit API', () => {
  it('lists the org sessions and exports one for the auditor role', async () => {
    const auditor = sys.keyOf('auditor');
    const list = await sys.request('GET', `/v1/audit/sessions?org=${sys.seed.orgs.acme.slug}`, { key: auditor });
    expect(list.status).toBe(200);
    expect(list.body.sessions.map((s: { id: string }) => s.id)).toContain(sessionId);
    const exp = await sys.request('GET', `/v1/audit/sessions/${sessionId}/export`, { key: auditor });
    expect(exp.status).toBe(200);
    const { createHash } = await import('node:crypto');
    for (const f of exp.body.manifest.files) {
      expect(createHash('sha256').update(exp.body.files[f.path], 'utf8').digest('hex')).toBe(f.sha256);
    }
  });

  it('answers a technician (no auditor role) exactly as for an unknown session', async () => {
    const unknown = await sys.request('GET', `/v1/audit/sessions/00000000-0000-4000-8000-000000000000/export`, { key: tech });
    const real = await sys.request('GET', `/v1/audit/sessions/${sessionId}/export`, { key: tech });
    expect(real.status).toBe(404);
    expect(real.body).toEqual(unknown.body);
    expect((await sys.request('GET', `/v1/audit/sessions?org=${sys.seed.orgs.acme.slug}`, { key: tech })).status).toBe(404);
  });
});
