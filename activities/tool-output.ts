/**
 * What the model sees of a tool's output: rendered as JSON, scanned for injected instructions (as indirect
 * input, every string as the model reads it), and fenced as untrusted data with a fresh nonce. Flagged content
 * still reaches the model, fenced and marked, and the caller taints the session so the next tool call needs a human.
 */
import crypto from 'node:crypto';
import type { ToolInvocation } from '@prisma/client';
import type { ToolOutcome } from '../common/session';
import { audit } from '../audit/log';
import { Channel } from '../lib/pg-events';
import { sessionEventPayload } from '../lib/session-events';
import type { ActivityDeps } from './deps';
import { scanToolOutput } from '../cage/injection-output';
import { fence } from '../cage/output-fence';

export interface RenderedOutput {
  text: string;
  flagged: boolean;
  categories: string[];
}

export function renderForModel(output: unknown, source: string): RenderedOutput {
  const raw = typeof output === 'string' ? output : JSON.stringify(output, null, 1);
  // Scanned string by string as the model reads them, not as JSON text (see injection-output.ts).
  const { flagged, categories } = scanToolOutput(output);
  const text = fence(raw, { nonce: crypto.randomBytes(9).toString('base64url'), source, flagged });
  return { text, flagged, categories };
}

/**
 * Finishes a tool invocation: its output rendered for the model and stored, an audit event when the output was
 * flagged, the console told, and the outcome (with the flag that taints the session) for the workflow.
 */
export async function finishInvocation(
  { prisma, metrics }: Pick<ActivityDeps, 'prisma' | 'metrics'>,
  inv: Pick<ToolInvocation, 'id' | 'orgId' | 'sessionId' | 'turnId' | 'toolName'>,
  result: { status: 'succeeded' | 'failed'; summary: string; output: unknown; commandId?: string | null },
): Promise<ToolOutcome> {
  const rendered = renderForModel(result.output, `tool:${inv.toolName}`);
  const event = sessionEventPayload({ sessionId: inv.sessionId, turnId: inv.turnId, type: 'tool:completed', tool: inv.toolName, status: result.status, text: result.summary, ...(rendered.flagged ? { flagged: true } : {}) });
  // The row finished and the console told in one statement (told only when the row is there).
  const [told] = await prisma.$queryRaw<{ n: number }[]>`
    WITH u AS (UPDATE "ToolInvocation"
               SET "status" = ${result.status}, "summary" = ${result.summary.slice(0, 1000)}, "output" = ${rendered.text}, "commandId" = CASE WHEN ${result.commandId !== undefined}::boolean THEN ${result.commandId ?? null}::text ELSE "commandId" END,
                   "completedAt" = now() AT TIME ZONE 'UTC'
               WHERE "id" = ${inv.id} RETURNING "id")
    SELECT count(*)::int AS "n" FROM (SELECT pg_notify(${Channel.SessionEvents}, ${event}) FROM u) x`;
  if (!told || told.n !== 1) throw new Error(`tool invocation ${inv.id} not found`);
  if (rendered.flagged) {
    metrics.detectorFlags.inc({ where: 'tool_output' });
    await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, action: 'injection.flagged_output', target: inv.toolName, sessionId: inv.sessionId, data: { invocationId: inv.id, categories: rendered.categories } });
  }
  return { invocationId: inv.id, status: result.status, summary: result.summary.slice(0, 500), ...(rendered.flagged ? { flagged: true } : {}) };
}
