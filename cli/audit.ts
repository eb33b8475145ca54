/**
 * The auditor's tool.
 *   npm run audit -- export <workflowId> [--out <dir>]     histories (every run and child), audit events, manifest
 *   npm run audit -- replay <file|dir|workflowId> [--json] [--workflow-id <id>]
 *                                                         replays against the current workflow code, then the timeline;
 *                                                         --workflow-id: the id a single history file ran under, needed
 *                                                         only when the file itself does not tell (audit/history-workflow-id.ts)
 *   npm run audit -- verify [--org <slug>] [--json]         checks the audit log's hash chain; the first broken link
 *   npm run audit -- verify <exportDir> [--json]            offline: the export's files against its manifest, and every
 *                                                         T4 decision's passkey signature against the exported keys
 * Exit code 0 when everything replays / verifies, 1 when something does not, 2 on bad usage.
 * Histories are encrypted (lib/payload-codec.ts): export and replay decrypt with PAYLOAD_KEYS (outside production,
 * the key file in DATA_DIR); a history encrypted with a key that is not there is reported with the key id it needs.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../worker/create-worker';
import { verifyChains, type ChainReport } from '../audit/chain';
import { analyse, verifyExportSignatures, exportSession, exportTimeline, readExport, writeExport, type ExportAnalysis, type ExportBundle } from '../audit/export';
import type { TimelineEntry } from '../audit/timeline';
import { workflowIdOfHistory } from '../audit/history-workflow-id';
import { loadEnvOrExit } from '../lib/env';
import { freshRunBundle } from '../lib/workflow-bundle';
import { dataConverterOf, payloadCodecFromEnv } from '../lib/payload-codec';
import { createPrisma } from '../lib/prisma';
import { createTemporalClient } from '../lib/temporal';

const USAGE = `usage:
  npm run audit -- export <workflowId> [--out <dir>]
  npm run audit -- replay <file|dir|workflowId> [--json] [--workflow-id <id>]
  npm run audit -- verify [--org <slug>] [--json]
  npm run audit -- verify <exportDir> [--json]`;

class UsageError extends Error {}

/** Histories are encrypted in Temporal and in exports: export and replay need PAYLOAD_KEYS (or the dev key file). */
function payloadCodec() {
  return payloadCodecFromEnv(loadEnvOrExit());
}

function services() {
  const env = loadEnvOrExit();
  const codec = payloadCodec();
  return { env, codec, prisma: createPrisma(env.DATABASE_URL), temporal: createTemporalClient(env, codec) };
}

async function exportCommand(workflowId: string | undefined, out: string | undefined): Promise<number> {
  if (!workflowId) throw new UsageError('export needs a workflow id');
  const { env, codec, prisma, temporal } = services();
  try {
    const bundle = await exportSession({ prisma, temporal }, workflowId);
    const dir = path.resolve(out ?? path.join(env.DATA_DIR, 'audit', workflowId));
    await writeExport(bundle, dir);
    const { crossCheck } = await analyse(bundle, codec);
    console.log(`exported ${workflowId} to ${dir}`);
    console.log(`  ${bundle.manifest.runs.length} workflow run(s), ${JSON.parse(bundle.files.get('audit-events.json')!).length} audit events, manifest.json with SHA-256 of ${bundle.manifest.files.length} files`);
    console.log(`  approvals: ${crossCheck.matched} in both the history and the audit log${crossCheck.missingInAudit.length + crossCheck.missingInHistory.length ? `; MISMATCH: ${describeMismatch(crossCheck)}` : ''}`);
    const recordings = bundle.manifest.recordings ?? [];
    for (const r of recordings) console.log(`  recording ${r.path}: ${r.matchesChain ? 'SHA-256 matches the audit chain' : `MISMATCH: the audit chain sealed ${r.sealedSha256 ?? 'nothing'}`}`);
    return recordings.every((r) => r.matchesChain) ? 0 : 1;
  } finally {
    await prisma.$disconnect();
  }
}

function describeMismatch(c: { missingInAudit: string[]; missingInHistory: string[] }): string {
  return [
    ...c.missingInAudit.map((id) => `approval ${id} decided in the history but with no audit event`),
    ...c.missingInHistory.map((id) => `approval ${id} has an audit decision the history never received`),
  ].join('; ');
}

/**
 * The id one history file ran under: the one given, else what the history itself tells. Replaying under a guessed
 * id would report a false nondeterminism (child ids derive from it), so without one this is a usage error.
 */
async function workflowIdOfFile(target: string, content: string, given: string | undefined, dataConverter?: DataConverter): Promise<string> {
  let history;
  try {
    history = historyFromJSON(JSON.parse(content));
  } catch (err) {
    throw new UsageError(`${target} is not a workflow history in Temporal's JSON format: ${(err as Error).message}`);
  }
  const found = await workflowIdOfHistory(history, dataConverter);
  const recorded = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId;
  if (given && recorded && given !== recorded) throw new UsageError(`${target} ran under the workflow id ${recorded}, not ${given}; leave out --workflow-id or give that one`);
  if (given) return given;
  if (found.workflowId === null) throw new UsageError(`replay of ${target} needs --workflow-id <the id it ran under>: ${found.reason}`);
  return found.workflowId;
}

/** The bundle to replay: an export directory, one history file, or a workflow fetched live. */
async function load(target: string, workflowId?: string, dataConverter?: DataConverter): Promise<{ bundle: ExportBundle; problems: string[] }> {
  const info = await stat(target).catch(() => null);
  if (info?.isDirectory()) {
    const { problems, ...bundle } = await readExport(target);
    return { bundle, problems };
  }
  if (info?.isFile()) {
    const content = await readFile(target, 'utf8');
    const name = await workflowIdOfFile(target, content, workflowId, dataConverter);
    const bundle: ExportBundle = {
      manifest: { format: 'gatehouse-audit-export/1', exportedAt: '', workflowId: name, sessionId: '', orgId: '', runs: [{ workflowId: name, runId: '', role: 'session', path: 'history.json' }], chainHead: null, files: [] },
      files: new Map([['history.json', content]]),
    };
    return { bundle, problems: [] };
  }
  const { prisma, temporal } = services();
  try {
    return { bundle: await exportSession({ prisma, temporal }, target), problems: [] };
  } finally {
    await prisma.$disconnect();
  }
}

/** The timeline and cross-checks of a bundle; a history encrypted with a key this machine lacks gives the reason. */
async function readTimeline(bundle: ExportBundle, codec: PayloadCodec): Promise<Omit<ExportAnalysis, 'crossCheck'> & { crossCheck: ExportAnalysis['crossCheck'] | null; error?: string }> {
  try {
    if (bundle.files.has('audit-events.json')) return await analyse(bundle, codec);
    return { timeline: await exportTimeline(bundle, codec), crossCheck: null, alteredEvents: [] };
  } catch (err) {
    return { timeline: [], crossCheck: null, alteredEvents: [], error: (err as Error).message };
  }
}

async function replayCommand(target: string | undefined, json: boolean, workflowId?: string): Promise<number> {
  if (!target) throw new UsageError('replay needs a history file, an export directory or a workflow id');
  const codec = payloadCodec();
  const dataConverter = dataConverterOf(codec);
  const { bundle, problems } = await load(target, workflowId, dataConverter);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const replays: { workflowId: string; runId: string; replays: boolean; error?: string }[] = [];
  // Bundled once for every run of the export (bundling is most of a replay's time); a bundle that fails to build
  // fails each run's replay with its error, as it did when each run bundled for itself.
  // Inside a jest run the run's own bundle stands in for it while its sources are unchanged (lib/workflow-bundle.ts).
  const prebuilt = await freshRunBundle(loadEnvOrExit().TEST_WORKFLOW_BUNDLE);
  let code: Promise<string> | undefined;
  for (const run of bundle.manifest.runs) {
    const content = bundle.files.get(run.path);
    if (!content) continue;
    try {
      code ??= prebuilt ? readFile(prebuilt.codePath, 'utf8') : bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: Runtime.instance().logger }).then((b) => b.code);
      await Worker.runReplayHistory({ workflowBundle: { code: await code }, dataConverter }, historyFromJSON(JSON.parse(content)), run.workflowId);
      replays.push({ workflowId: run.workflowId, runId: run.runId, replays: true });
    } catch (err) {
      replays.push({ workflowId: run.workflowId, runId: run.runId, replays: false, error: (err as Error).message.split('\n')[0] });
    }
  }
  const analysis = await readTimeline(bundle, codec);
  const timelineError = analysis.error;
  const ok = !timelineError && replays.every((r) => r.replays) && !problems.length && !analysis.alteredEvents.length && !(analysis.crossCheck && (analysis.crossCheck.missingInAudit.length || analysis.crossCheck.missingInHistory.length));
  if (json) {
    console.log(JSON.stringify({ ok, replays, fileProblems: problems, timelineError, alteredEvents: analysis.alteredEvents, crossCheck: analysis.crossCheck, timeline: analysis.timeline }, null, 1));
    return ok ? 0 : 1;
  }
  for (const p of problems) console.log(`FILE CHANGED: ${p}`);
  for (const r of replays) {
    console.log(r.replays ? `replays: ${r.workflowId} ${r.runId} replays against the current workflow code` : `DOES NOT REPLAY: ${r.workflowId} ${r.runId}: ${r.error}`);
  }
  console.log('');
  if (timelineError) console.log(`NO TIMELINE: ${timelineError}`);
  for (const t of analysis.timeline) console.log(formatEntry(t));
  if (analysis.crossCheck) {
    const c = analysis.crossCheck;
    console.log('');
    console.log(c.missingInAudit.length || c.missingInHistory.length ? `approvals cross-check FAILED: ${describeMismatch(c)}` : `approvals cross-check: ${c.matched} decision(s), each in both the history and the audit log`);
  }
  for (const e of analysis.alteredEvents) console.log(`AUDIT EVENT ALTERED: ${e} no longer matches its hash`);
  return ok ? 0 : 1;
}

function formatEntry(t: TimelineEntry): string {
  return `${t.time.replace('T', ' ').replace('Z', '')}  ${t.kind.padEnd(18)} ${t.text}`;
}

/**
 * An export, offline (no database, no Temporal): every file against the manifest, then every passkey-signed
 * decision (each T4 approval must be one) against the exported public keys and the approval's digest.
 */
async function verifyExportCommand(dir: string, json: boolean): Promise<number> {
  const bundle = await readExport(path.resolve(dir));
  const report = await verifyExportSignatures(bundle);
  const problems = [...bundle.problems, ...report.problems];
  const ok = problems.length === 0;
  if (json) {
    console.log(JSON.stringify({ ok, signatures: report.verified, problems }, null, 1));
    return ok ? 0 : 1;
  }
  for (const p of bundle.problems) console.log(`FILE ${p}`);
  for (const v of report.verified) console.log(`ok T${v.tier} approval ${v.approvalId}: passkey signature of ${v.email ?? 'unknown user'} verifies over its digest`);
  for (const p of report.problems) console.log(`FAILED ${p}`);
  console.log(ok ? `ok: ${report.verified.length} passkey-signed decision(s) verified` : `FAILED: ${problems.length} problem(s)`);
  return ok ? 0 : 1;
}

async function verifyCommand(org: string | undefined, json: boolean): Promise<number> {
  const prisma = createPrisma(loadEnvOrExit().DATABASE_URL);
  try {
    let orgId: string | undefined;
    if (org) {
      const found = await prisma.organization.findFirst({ where: { OR: [{ slug: org }, ...(/^[0-9a-f-]{36}$/.test(org) ? [{ id: org }] : [])] } });
      if (!found) throw new UsageError(`no organization ${org}`);
      orgId = found.id;
    }
    const reports = await verifyChains(prisma, orgId);
    const slugs = new Map((await prisma.organization.findMany({ select: { id: true, slug: true } })).map((o) => [o.id, o.slug]));
    const name = (r: ChainReport) => (r.orgId ? (slugs.get(r.orgId) ?? r.orgId) : '(events without an org)');
    const ok = reports.every((r) => !r.broken);
    if (json) {
      console.log(JSON.stringify({ ok, chains: reports.map((r) => ({ org: name(r), ...r })) }, null, 1));
      return ok ? 0 : 1;
    }
    for (const r of reports) {
      console.log(
        r.broken
          ? `BROKEN ${name(r)}: event #${r.broken.seq} (id ${r.broken.id}): ${r.broken.problem}; the chain holds up to the event before it`
          : `ok ${name(r)}: ${r.events} events, head ${r.head}`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    await prisma.$disconnect();
  }
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, org: { type: 'string' }, json: { type: 'boolean', default: false }, 'workflow-id': { type: 'string' } },
  });
  const [command, arg] = positionals;
  switch (command) {
    case 'export':
      return exportCommand(arg, values.out);
    case 'replay':
      return replayCommand(arg, values.json, values['workflow-id']);
    case 'verify':
      return arg ? verifyExportCommand(arg, values.json) : verifyCommand(values.org, values.json);
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'no command');
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`audit: ${err.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(`audit: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
