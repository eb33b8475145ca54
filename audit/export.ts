/**
 * Audit export: a copilot session's workflow histories (every run, and every remediation child), the org's audit
 * events for the session, and a manifest with the SHA-256 of every file. Histories are written in the encoding of
 * `temporal workflow show --output json` with payloads still encoded, that is encrypted (lib/payload-codec.ts): an
 * export leaks nothing to whoever holds the files, and `npm run audit -- replay` decrypts with the keys.
 *
 *   <out>/manifest.json
 *   <out>/workflows/<workflowId>/<runId>.json
 *   <out>/audit-events.json
 *   <out>/recordings/<recordingId>.cast     (a terminal request's: each terminal's asciicast, as stored)
 *   <out>/passkeys.json          the registered public keys of the passkeys that signed the session's decisions
 *
 * A terminal request (`terminal:<orgId>:<id>`, docs/terminal.md) exports the same way: its workflow's history, its
 * audit events, and every recording of it, whose SHA-256 the manifest lists beside the one sealed into the chain.
 *
 * `npm run audit -- verify <dir>` checks, offline, every passkey-signed decision of an export (every T4 approval
 * must be one) against those public keys and the approval's digest (verifyExportSignatures).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Prisma, type PrismaClient } from '@prisma/client';
import { AppError, AppErrorCode } from '../lib/app-error';
import { eventHash, readChainRows, type ChainRow } from './chain';
import { decodeHistory } from '../lib/history-payloads';
import { sha256 } from '../lib/secrets';
import { childWorkflowIds, decidedApprovals, timelineOf, type TimelineEntry } from './timeline';
import { assertionProblem, StoredAssertion } from '../lib/passkey-assertion';

export const EXPORT_FORMAT = 'gatehouse-audit-export/1';

export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

export interface ExportedRun {
  workflowId: string;
  runId: string;
  /** `session` for the copilot session's own runs, `child` for remediations it started. */
  role: 'session' | 'child';
  path: string;
}

export interface Manifest {
  format: typeof EXPORT_FORMAT;
  exportedAt: string;
  workflowId: string;
  sessionId: string;
  orgId: string;
  runs: ExportedRun[];
  /** The org's audit chain head when exported: later, `audit verify` must still reach it unchanged. */
  chainHead: { seq: string; hash: string } | null;
  files: ManifestFile[];
  /** A terminal request's recordings: each file, and the SHA-256 its `terminal.recorded` event put in the chain. */
  recordings?: { id: string; path: string; sealedSha256: string | null; matchesChain: boolean }[];
}

/** An exported audit event: the chain fields as stored, `data` as PostgreSQL rendered it (what the hash covers). */
export type ExportedEvent = Omit<ChainRow, 'id' | 'seq' | 'createdAt'> & { id: string; seq: string; createdAt: string };

export interface ExportBundle {
  manifest: Manifest;
  /** Path → exact file content (the manifest's hashes are over these bytes). */
  files: Map<string, string>;
}

async function runsOf(client: Client, workflowId: string): Promise<{ runId: string; start: number }[]> {
  const runs: { runId: string; start: number }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, "''")}'` })) {
    runs.push({ runId: w.runId, start: w.startTime.getTime() });
  }
  return runs.sort((a, b) => a.start - b.start);
}

export function toExportedEvent(r: ChainRow): ExportedEvent {
  return { ...r, id: r.id.toString(), seq: r.seq.toString(), createdAt: r.createdAt.toISOString() };
}

/** Recomputes one exported event's hash from its fields (its link to the previous event is checked by `verify`). */
export function exportedEventIntact(e: ExportedEvent): boolean {
  return eventHash({ ...e, id: BigInt(e.id), seq: BigInt(e.seq), createdAt: new Date(e.createdAt) }) === e.hash;
}

/** Collects everything for one session. Throws NotFound when the workflow is not a known copilot session. */
export async function exportSession(deps: { prisma: PrismaClient; temporal: Client }, workflowId: string): Promise<ExportBundle> {
  const copilot = await deps.prisma.copilotSession.findUnique({ where: { workflowId }, select: { id: true, orgId: true } });
  const terminal = copilot ? null : await deps.prisma.terminalSession.findUnique({ where: { workflowId }, select: { id: true, orgId: true } });
  const session = copilot ?? terminal;
  if (!session) throw new AppError(AppErrorCode.NotFound, `no copilot session or terminal request with workflow id ${workflowId}`);
  const files = new Map<string, string>();
  const runs: ExportedRun[] = [];

  const pending: { workflowId: string; role: 'session' | 'child' }[] = [{ workflowId, role: 'session' }];
  const seen = new Set<string>();
  while (pending.length) {
    const next = pending.shift()!;
    if (seen.has(next.workflowId)) continue;
    seen.add(next.workflowId);
    for (const run of await runsOf(deps.temporal, next.workflowId)) {
      const history = await deps.temporal.workflow.getHandle(next.workflowId, run.runId).fetchHistory();
      const file = `workflows/${next.workflowId}/${run.runId}.json`;
      files.set(file, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
      runs.push({ workflowId: next.workflowId, runId: run.runId, role: next.role, path: file });
      for (const child of childWorkflowIds(history)) pending.push({ workflowId: child, role: 'child' });
    }
  }
  if (!runs.length) throw new AppError(AppErrorCode.NotFound, `Temporal has no history for ${workflowId} (past the namespace's retention?)`);

  const events = await readChainRows(deps.prisma, Prisma.sql`"orgId" = ${session.orgId}::uuid AND "sessionId" = ${session.id}::uuid`);
  files.set('audit-events.json', `${JSON.stringify(events.map(toExportedEvent), null, 1)}\n`);
  const recordings = terminal ? await terminalRecordings(deps.prisma, terminal.id, events, files) : undefined;
  files.set('passkeys.json', `${JSON.stringify(await passkeysOf(deps.prisma, session.id), null, 1)}\n`);

  const [head] = await deps.prisma.$queryRaw<{ seq: bigint; hash: string }[]>`
    SELECT seq, hash FROM "AuditEvent" WHERE "orgId" = ${session.orgId}::uuid ORDER BY seq DESC LIMIT 1`;
  const manifest: Manifest = {
    format: EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    workflowId,
    sessionId: session.id,
    orgId: session.orgId,
    runs,
    chainHead: head ? { seq: head.seq.toString(), hash: head.hash } : null,
    files: [...files].map(([p, content]) => ({ path: p, sha256: sha256(content), bytes: Buffer.byteLength(content) })),
    ...(recordings ? { recordings } : {}),
  };
  return { manifest, files };
}

/** Each recording of a terminal request as a file, and whether it still has the SHA-256 its audit event sealed. */
async function terminalRecordings(prisma: PrismaClient, terminalId: string, events: ChainRow[], files: Map<string, string>): Promise<NonNullable<Manifest['recordings']>> {
  const sealed = new Map(events.filter((e) => e.action === 'terminal.recorded').map((e) => [e.target ?? '', (JSON.parse(e.data) as { sha256?: string }).sha256 ?? null]));
  const out: NonNullable<Manifest['recordings']> = [];
  for (const r of await prisma.terminalRecording.findMany({ where: { terminalSessionId: terminalId }, orderBy: { openedAt: 'asc' }, select: { id: true } })) {
    const chunks = await prisma.terminalRecordingChunk.findMany({ where: { recordingId: r.id }, orderBy: { seq: 'asc' }, select: { data: true } });
    const cast = Buffer.concat(chunks.map((c) => Buffer.from(c.data))).toString('utf8');
    const file = `recordings/${r.id}.cast`;
    files.set(file, cast);
    const sealedSha256 = sealed.get(r.id) ?? null;
    out.push({ id: r.id, path: file, sealedSha256, matchesChain: sealedSha256 === sha256(cast) });
  }
  return out;
}

/** A registered passkey as exported: whose it is and its public key (COSE, base64url), as Gatehouse stored it. */
export interface ExportedPasskey {
  credentialId: string;
  userId: string;
  email: string | null;
  publicKey: string;
  registeredAt: string;
  removedAt: string | null;
}

/** The registered passkeys that signed decisions on this session's approvals. */
async function passkeysOf(prisma: PrismaClient, sessionId: string): Promise<ExportedPasskey[]> {
  const approvals = await prisma.approval.findMany({ where: { sessionId, passkeyAssertion: { not: Prisma.DbNull } }, select: { passkeyAssertion: true } });
  const ids = [...new Set(approvals.map((a) => StoredAssertion.safeParse(a.passkeyAssertion)).flatMap((p) => (p.success ? [p.data.credentialId] : [])))];
  const creds = await prisma.passkeyCredential.findMany({ where: { credentialId: { in: ids } }, include: { user: { select: { email: true } } }, orderBy: { createdAt: 'asc' } });
  return creds.map((c) => ({ credentialId: c.credentialId, userId: c.userId, email: c.user.email, publicKey: c.publicKey, registeredAt: c.createdAt.toISOString(), removedAt: c.removedAt?.toISOString() ?? null }));
}

export interface SignatureReport {
  /** Passkey-signed decisions whose signature, challenge and key held. */
  verified: { approvalId: string; tier: number; email: string | null }[];
  problems: string[];
}

/**
 * Checks every approving decision of an export offline: each T4 one (and any other carrying an assertion) must carry
 * a passkey assertion whose credential is in passkeys.json with the same public key, whose challenge is the one
 * derived from the decision's digest and approval id, and whose signature verifies with that key. The events
 * themselves must still match their hashes (an edited digest or assertion breaks the event's hash as well).
 */
export async function verifyExportSignatures(bundle: ExportBundle): Promise<SignatureReport> {
  const events = JSON.parse(bundle.files.get('audit-events.json') ?? '[]') as ExportedEvent[];
  const keys = new Map((JSON.parse(bundle.files.get('passkeys.json') ?? '[]') as ExportedPasskey[]).map((k) => [k.credentialId, k]));
  const report: SignatureReport = { verified: [], problems: [] };
  for (const e of events) {
    if (e.action !== 'approval.approved') continue;
    const data = JSON.parse(e.data) as { tier?: number; digest?: string; passkey?: unknown };
    const approvalId = e.target ?? '';
    const tier = Number(data.tier ?? 0);
    if (!exportedEventIntact(e)) report.problems.push(`approval ${approvalId}: its audit event #${e.seq} no longer matches its hash`);
    if (data.passkey === undefined) {
      if (tier >= 4) report.problems.push(`approval ${approvalId} (T${tier}): approved without a passkey assertion`);
      continue;
    }
    const parsed = StoredAssertion.safeParse(data.passkey);
    const key = parsed.success ? keys.get(parsed.data.credentialId) : undefined;
    if (!key) {
      report.problems.push(`approval ${approvalId} (T${tier}): the passkey that signed it is not among the exported public keys`);
      continue;
    }
    const problem = await assertionProblem(data.passkey, { id: approvalId, digest: String(data.digest ?? '') }, key.publicKey);
    if (problem) report.problems.push(`approval ${approvalId} (T${tier}): ${problem}`);
    else report.verified.push({ approvalId, tier, email: key.email });
  }
  return report;
}

export async function writeExport(bundle: ExportBundle, dir: string): Promise<void> {
  for (const [file, content] of bundle.files) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(bundle.manifest, null, 1)}\n`);
}

/** Reads an export back, checking every file against the manifest's hash first. */
export async function readExport(dir: string): Promise<ExportBundle & { problems: string[] }> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  if (manifest.format !== EXPORT_FORMAT) throw new AppError(AppErrorCode.BadRequest, `${dir}: not a Gatehouse audit export (format ${String(manifest.format)})`);
  const files = new Map<string, string>();
  const problems: string[] = [];
  for (const f of manifest.files) {
    const full = path.resolve(dir, f.path);
    if (!full.startsWith(path.resolve(dir) + path.sep)) throw new AppError(AppErrorCode.BadRequest, `manifest names a file outside the export: ${f.path}`);
    const content = await readFile(full, 'utf8').catch(() => null);
    if (content === null) problems.push(`${f.path}: missing`);
    else if (sha256(content) !== f.sha256) problems.push(`${f.path}: SHA-256 differs from the manifest (the file was changed)`);
    if (content !== null) files.set(f.path, content);
  }
  return { manifest, files, problems };
}

export interface ExportAnalysis {
  timeline: TimelineEntry[];
  /** Approvals the history accepted with no matching audit event, and audit decisions the history never saw. */
  crossCheck: { matched: number; missingInAudit: string[]; missingInHistory: string[] };
  /** Audit events whose content no longer matches their own hash. */
  alteredEvents: string[];
}

/** The timeline of every run of an export, merged in time order; payloads decrypted with `codec` first. */
export async function exportTimeline(bundle: ExportBundle, codec: PayloadCodec): Promise<TimelineEntry[]> {
  const timeline: TimelineEntry[] = [];
  for (const run of bundle.manifest.runs) {
    const content = bundle.files.get(run.path);
    if (content) timeline.push(...timelineOf(run.workflowId, await decodeHistory(historyFromJSON(JSON.parse(content)), codec)));
  }
  return timeline.sort((a, b) => a.time.localeCompare(b.time));
}

/**
 * The merged timeline of all runs, and the cross-check of approvals between the histories and the audit events.
 * The histories' payloads are decrypted with `codec`; one encrypted with a key it lacks fails with that key's id.
 */
export async function analyse(bundle: ExportBundle, codec: PayloadCodec): Promise<ExportAnalysis> {
  const timeline = await exportTimeline(bundle, codec);
  const events = JSON.parse(bundle.files.get('audit-events.json') ?? '[]') as ExportedEvent[];
  const inHistory = decidedApprovals(timeline);
  const inAudit = new Map(events.filter((e) => e.action === 'approval.approved' || e.action === 'approval.rejected').map((e) => [e.target ?? '', e]));
  const missingInAudit = [...inHistory.keys()].filter((id) => !inAudit.has(id));
  const missingInHistory = [...inAudit.keys()].filter((id) => !inHistory.has(id));
  return {
    timeline,
    crossCheck: { matched: [...inHistory.keys()].filter((id) => inAudit.has(id)).length, missingInAudit, missingInHistory },
    alteredEvents: events.filter((e) => !exportedEventIntact(e)).map((e) => `#${e.seq} ${e.action}`),
  };
}
