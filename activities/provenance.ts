/**
 * The session's texts for provenance taint (cage/provenance.ts): every tool output it received and every message
 * its users wrote, with when.
 */
import { anthropicToolDefinitions } from '../common/tools/model-tools';
import { describeProvenance, taintedArguments, type SessionText } from '../cage/provenance';
import type { ActivityDeps } from './deps';

/**
 * Keys whose values never reach a device as text of the model's choosing: ids of our own records (devices, alerts,
 * commands: checked against the org before anything runs, and a command id is read back from an earlier result by
 * design) and the reason shown to the approver and written to the audit log.
 */
const SKIP_KEYS = new Set(['device_id', 'device_ids', 'alert_id', 'command_id', 'reason']);

/**
 * In words, which arguments of a call of `tool` carry a string that first appeared in a tool output of the session;
 * '' if none. What the catalog itself says of the tool (its enums, defaults, examples: `System`, `restart`) came first.
 */
export async function argumentProvenance(prisma: ActivityDeps['prisma'], sessionId: string, tool: string, input: unknown, trustedValues: string[] = [], definition?: unknown): Promise<string> {
  const [outputs, messages] = await Promise.all([
    prisma.toolInvocation.findMany({ where: { sessionId, output: { not: null } }, select: { toolName: true, output: true, completedAt: true, createdAt: true } }),
    prisma.message.findMany({ where: { sessionId, kind: 'user_text' }, select: { content: true, createdAt: true } }),
  ]);
  const texts: SessionText[] = [
    // The tool's own definition (an upstream tool's pinned one): what it says is not the model's invention.
    { at: 0, kind: 'user', text: JSON.stringify(definition ?? anthropicToolDefinitions().find((d) => d.name === tool) ?? '') },
    ...outputs.map((o) => ({ at: (o.completedAt ?? o.createdAt).getTime(), kind: 'output' as const, tool: o.toolName, text: o.output! })),
    ...messages.map((m) => ({ at: m.createdAt.getTime(), kind: 'user' as const, text: JSON.stringify(m.content) })),
  ];
  const tainted = taintedArguments(input, texts, { skipKeys: SKIP_KEYS, trustedValues: new Set(trustedValues.map((v) => v.toLowerCase())) });
  return describeProvenance(tainted);
}
