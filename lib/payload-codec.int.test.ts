/**
 * Encrypted histories end to end, with real Temporal, PostgreSQL, an agent process and the api: what a user typed
 * and a script's text and output are nowhere in the history Temporal holds, while the api still shows them; an
 * export made with one key replays after a rotation and names the key it lacks otherwise; the Temporal UI's codec
 * endpoint decodes for a signed-in auditor only, from the UI's origin only.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { environment, loadEnv } from './env';
import { decodeHistory, encodedByCodec } from './history-payloads';
import { startTestSystem, toolCall, toolStepOf, type TestSystem } from '../test/harness';
import { approveWithPasskey } from '../test/passkey';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const UI = 'http://127.0.0.1:8233';
const mark = crypto.randomBytes(6).toString('hex');
const MESSAGE = `MSG-${mark}`;
const SCRIPT = `SCRIPT-${mark}`;
// Put together when the script runs: its text holds no OUTPUT marker.
const OUTPUT = `OUTPUT-${mark}-42`;

let sys: TestSystem;
let sessionId: string;
let workflowId: string;
let exportDir: string;
let raw: temporal.api.history.v1.IHistory;

const bytesOf = (history: temporal.api.history.v1.IHistory) => Buffer.from(temporal.api.history.v1.History.encode(history).finish());

/** Runs the audit CLI as an auditor would, with the given keys. */
async function audit(keys: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  const env = environment({ DATABASE_URL: loadEnv().TEST_DATABASE_URL, TEMPORAL_ADDRESS: sys.temporal.address, LOG_LEVEL: 'silent', PAYLOAD_KEYS: keys });
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'audit.ts'), ...args], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

beforeAll(async () => {
  sys = await startTestSystem({ agent: true });
  const tech = sys.keyOf('technician');
  sessionId = await sys.startSession(tech);
  workflowId = (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).workflowId;
  await sys.waitForTurn(sessionId, tech, await sys.send(sessionId, tech, `what is the hostname of the demo device? ${MESSAGE}`));

  const script = `echo "${SCRIPT}" > /dev/null; echo "OUTPUT-${mark}-$((6*7))"`;
  const turnId = await sys.send(sessionId, tech, toolCall('execute_script', { device_id: sys.agent!.deviceId, interpreter: 'bash', script }));
  const approval = await sys.waitForApproval(sessionId);
  const decided = await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: approval.confirmationPhrase });
  expect(decided.status).toBe(200);
  const step = toolStepOf(await sys.waitForTurn(sessionId, tech, turnId, 90_000), turnId);
  expect(step).toMatchObject({ tool: 'execute_script', status: 'succeeded' });

  // The history as anyone with access to Temporal reads it: a client without our codec.
  raw = await new Client({ connection: sys.temporal.connection }).workflow.getHandle(workflowId).fetchHistory();
  exportDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-codec-'));
}, 240_000);

afterAll(async () => {
  if (exportDir) await rm(exportDir, { recursive: true, force: true });
  await sys?.stop();
});

it("keeps the user's message, the script and its output out of the history Temporal holds", async () => {
  const decoded = bytesOf(await decodeHistory(raw, sys.payloadCodec));
  const stored = bytesOf(raw);
  for (const marker of [MESSAGE, SCRIPT, OUTPUT]) {
    expect(decoded.includes(marker)).toBe(true); // the history does carry it, decrypted
    expect(stored.includes(marker)).toBe(false);
  }
  // Every payload is encrypted, but for what the SDK writes for itself (patch ids, search attributes).
  const encodings: string[] = [];
  const walk = (node: unknown, path: string[] = []): void => {
    if (!node || typeof node !== 'object' || ArrayBuffer.isView(node) || !encodedByCodec(path)) return;
    const encoding = (node as { metadata?: Record<string, Uint8Array> }).metadata?.encoding;
    if (encoding) encodings.push(Buffer.from(encoding).toString());
    for (const [k, v] of Object.entries(node)) walk(v, Array.isArray(node) ? path : [...path, k]);
  };
  walk(temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(raw)));
  expect(encodings.length).toBeGreaterThan(20);
  expect(new Set(encodings)).toEqual(new Set(['binary/encrypted']));
});

it('still shows the transcript, and the timeline read back from Temporal', async () => {
  const tech = sys.keyOf('technician');
  const session = await sys.request('GET', `/v1/sessions/${sessionId}`, { key: tech });
  expect(JSON.stringify(session.body)).toContain(MESSAGE);
  const timeline = await sys.request('GET', `/v1/sessions/${sessionId}/timeline`, { key: tech });
  expect(timeline.status).toBe(200);
  expect(timeline.body.entries).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'message', text: expect.stringContaining(MESSAGE) })]));
});

it('replays an export after a key rotation, and names the key id it needs when that key is gone', async () => {
  expect((await audit(sys.payloadKeys, 'export', workflowId, '--out', exportDir)).code).toBe(0);
  const keyB = `rotated:${crypto.randomBytes(32).toString('base64')}`;
  const keyIdA = sys.payloadKeys.split(':')[0]!;

  const rotated = await audit(`${keyB},${sys.payloadKeys}`, 'replay', exportDir);
  expect(rotated.stdout).toMatch(/^replays: /m);
  expect(rotated.stdout).toContain(MESSAGE);
  expect(rotated.code).toBe(0);

  const lost = await audit(keyB, 'replay', exportDir);
  expect(lost.code).toBe(1);
  expect(lost.stdout).toMatch(/^DOES NOT REPLAY: /m);
  expect(lost.stdout).toContain(`encrypted with key id "${keyIdA}", which is not in PAYLOAD_KEYS`);
  expect(lost.stdout).not.toContain(MESSAGE);
  expect(lost.stdout).not.toContain(sys.payloadKeys.split(':')[1]!);
});

describe('the codec endpoint of the Temporal UI', () => {
  const person = (role: string) => sys.seed.credentials.find((c) => c.role === role && (role === 'auditor' || c.org === sys.seed.orgs.acme.slug))!;
  const signIn = async (role: string) => {
    const { email, password } = person(role);
    const res = await fetch(`${sys.url}/v1/auth/signin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    expect(res.status).toBe(200);
    return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  };
  /**
   * Every activity input of the session's history, and what its local activities' markers keep (a turn's checks run
   * as local activities, whose inputs are not in the history), as the UI sends payloads (protobuf JSON: bytes in
   * base64).
   */
  const activityInputs = () =>
    raw.events!.flatMap((e) => [
      ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
      ...(e.markerRecordedEventAttributes?.markerName === 'core_local_activity' ? (e.markerRecordedEventAttributes.details?.result?.payloads ?? []) : []),
    ]).map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data ?? []).toString('base64'),
    }));
  const decode = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sys.url}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI, ...headers }, body: JSON.stringify(body) });

  it('decodes the payloads for a signed-in auditor, from the UI origin, and audits it', async () => {
    const cookie = await signIn('auditor');
    const payloads = activityInputs();
    expect(payloads.length).toBeGreaterThan(0);
    const res = await decode({ payloads }, { cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(body.payloads).toHaveLength(payloads.length);
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(body.payloads.map((p) => Buffer.from(p.data, 'base64').toString()).join('\n')).toContain(MESSAGE);
    const auditor = await sys.prisma.user.findUniqueOrThrow({ where: { email: person('auditor').email } });
    const events = await sys.prisma.auditEvent.findMany({ where: { action: 'codec.decoded', actorId: auditor.id }, orderBy: { seq: 'asc' } });
    expect(events.at(-1)?.data).toMatchObject({ count: payloads.length, namespace: 'default', via: 'session' });
  });

  it('answers the preflight for the UI origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${sys.url}/codec/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
    const ok = await preflight(UI);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
    const evil = await preflight('http://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('gives another origin no CORS allowance, so its page cannot read the answer', async () => {
    const res = await decode({ payloads: activityInputs() }, { cookie: await signIn('auditor'), origin: 'http://evil.example' });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses anyone not signed in (401), and a technician or an org admin (403, audited)', async () => {
    const anonymous = await decode({ payloads: activityInputs() });
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(await anonymous.json())).not.toContain(MESSAGE);
    expect((await decode({ payloads: activityInputs() }, { cookie: await signIn('technician') })).status).toBe(403);
    const orgAdmin = await sys.createUser(['admin']);
    const denied = await decode({ payloads: activityInputs() }, { authorization: `Bearer ${orgAdmin.key}` });
    expect(denied.status).toBe(403);
    expect(JSON.stringify(await denied.json())).not.toContain(MESSAGE);
    expect(await sys.prisma.auditEvent.count({ where: { action: 'codec.decode_denied', actorId: orgAdmin.userId } })).toBe(1);
  });

  it('refuses a malformed body with 400', async () => {
    const cookie = await signIn('auditor');
    for (const body of [{}, { payloads: 'x' }, { payloads: [{ data: 'not base64!' }] }, { payloads: Array.from({ length: 1001 }, () => ({})) }]) {
      expect((await decode(body, { cookie })).status).toBe(400);
    }
  });
});
