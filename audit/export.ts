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
 *
 * A terminal request (`terminal:<orgId>:<id>`, docs/terminal.md) exports the same way: its workflow's history, its
 * audit events, and every recording of it, whose SHA-256 the manifest lists beside the one sealed into the chain.
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
