import type { Prisma } from '@prisma/client';
import { toolInvocationId } from '../common/ids';
import type { Authorization } from '../common/session';
import { isToolName, Tier, TOOL_CATALOG, ToolInput, type ToolName } from '../common/tools';
import { audit } from '../lib/audit';
import { publishSessionEvent } from '../lib/session-events';
import type { ActivityDeps } from './deps';

export interface AuthorizeToolCallInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  userId: string;
  toolUse: { id: string; name: string; input: unknown };
}

/** Roles that may have the copilot act on their behalf. */
const ACTING_ROLES = ['technician', 'admin'];

/**
 * Decides whether one tool call the model asked for may run. Order matters: an unknown name is refused before
 * anything looks at its input; the input must parse; every target device must belong to the session's org (the
 * org comes from the session, never from the model). Every decision is recorded and audited; a retry returns the
 * decision already recorded.
 */
export function makeAuthorizeToolCall({ prisma }: ActivityDeps) {
  return async function authorizeToolCall(input: AuthorizeToolCallInput): Promise<Authorization> {
    const invocationId = toolInvocationId(input.sessionId, input.toolUse.id);
    const recorded = await prisma.toolInvocation.findUnique({ where: { id: invocationId } });
    if (recorded) return replayDecision(recorded);

    const verdict = await decide(prisma, input);
    const toolName = input.toolUse.name.slice(0, 100);
    await prisma.toolInvocation.create({
      data: {
        id: invocationId,
        sessionId: input.sessionId,
        orgId: input.orgId,
        turnId: input.turnId,
        toolUseId: input.toolUse.id,
        toolName,
        input: (verdict.parsed ?? { unparsed: true }) as Prisma.InputJsonValue,
        tier: verdict.decision === 'allow' ? verdict.tier : null,
        decision: verdict.decision,
        status: verdict.decision === 'allow' ? 'running' : 'denied',
        summary: verdict.decision === 'deny' ? verdict.reason : null,
      },
    });
    await audit(prisma, {
      orgId: input.orgId,
      actorType: 'model',
      actorId: input.sessionId,
      action: verdict.decision === 'allow' ? 'tool.authorized' : 'tool.denied',
      target: toolName,
      data: { invocationId, userId: input.userId, ...(verdict.decision === 'deny' ? { reason: verdict.reason } : { tier: verdict.tier }) },
    });
    await publishSessionEvent(prisma, {
      sessionId: input.sessionId,
      turnId: input.turnId,
      type: verdict.decision === 'allow' ? 'tool:started' : 'tool:denied',
      tool: toolName,
      ...(verdict.decision === 'allow' ? { tier: verdict.tier } : { text: verdict.reason }),
    });
    if (verdict.decision === 'deny') return { decision: 'deny', invocationId, reason: verdict.reason };
    return { decision: 'allow', invocationId, tier: verdict.tier, execution: verdict.execution };
  };
}

type Verdict =
  | { decision: 'allow'; tier: number; parsed: unknown; execution: Extract<Authorization, { decision: 'allow' }>['execution'] }
  | { decision: 'deny'; reason: string; parsed?: unknown };

async function decide(prisma: ActivityDeps['prisma'], input: AuthorizeToolCallInput): Promise<Verdict> {
  const { name } = input.toolUse;
  if (!isToolName(name)) return { decision: 'deny', reason: `unknown tool "${name.slice(0, 100)}": it is not in the catalog` };

  const parsed = ToolInput[name].safeParse(input.toolUse.input);
  if (!parsed.success) {
    const problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return { decision: 'deny', reason: `invalid input for ${name}: ${problem}` };
  }
  const spec = TOOL_CATALOG[name as ToolName] as (typeof TOOL_CATALOG)[ToolName];
  const args = parsed.data as never;

  const binding = await prisma.roleBinding.findFirst({
    where: { userId: input.userId, orgId: input.orgId, role: { in: ACTING_ROLES } },
  });
  if (!binding) return { decision: 'deny', reason: 'the requesting user may no longer use the copilot in this organization', parsed: parsed.data };

  const targets = [...new Set(spec.targets(args))];
  if (targets.length > 0) {
    const found = await prisma.device.count({ where: { id: { in: targets }, orgId: input.orgId } });
    if (found !== targets.length) {
      await audit(prisma, {
        orgId: input.orgId,
        actorType: 'model',
        actorId: input.sessionId,
        action: 'security.device_out_of_scope',
        target: name,
        data: { targets },
      });
      return { decision: 'deny', reason: 'device not found in this organization', parsed: parsed.data };
    }
  }
  // Only read-only tools exist so far; anything riskier is refused until approvals exist (fail closed).
  if (spec.tier !== Tier.T1) return { decision: 'deny', reason: `${name} needs a human approval, which is not available`, parsed: parsed.data };
  return { decision: 'allow', tier: spec.tier, parsed: parsed.data, execution: spec.execution(args) };
}

function replayDecision(
  recorded: { decision: string; tier: number | null; summary: string | null; toolName: string; input: unknown; id: string },
): Authorization {
  if (recorded.decision !== 'allow' || !isToolName(recorded.toolName)) {
    return { decision: 'deny', invocationId: recorded.id, reason: recorded.summary ?? 'denied' };
  }
  const spec = TOOL_CATALOG[recorded.toolName] as (typeof TOOL_CATALOG)[ToolName];
  const args = ToolInput[recorded.toolName].parse(recorded.input) as never;
  return { decision: 'allow', invocationId: recorded.id, tier: recorded.tier ?? spec.tier, execution: spec.execution(args) };
}
