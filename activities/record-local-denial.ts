import { audit } from '../audit/log';
import type { ActivityDeps } from './deps';
import { assertSession } from './session-identity';

/** The rules a workflow applies on its own, without asking an activity first. */
export type LocalDenialRule = 'breaker' | 'paused';

export interface RecordLocalDenialInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  userId: string;
  toolUseId: string;
  tool: string;
  rule: LocalDenialRule;
  reason: string;
}

/**
 * The audit event of a tool call the workflow refused by itself (tripped breaker, paused org): those denials
 * never reach authorizeToolCall, and every denial must be in the audit log with the rule that made it.
 */
export function makeRecordLocalDenial({ prisma, metrics }: ActivityDeps) {
  return async function recordLocalDenial(input: RecordLocalDenialInput): Promise<void> {
    await assertSession(prisma, input, 'recordLocalDenial');
    // Counted here, once the session is known to be this workflow's (a retry counts again: rare, and only a count).
    metrics.toolCalls.inc({ tier: 'none', outcome: 'denied' });
    metrics.denials.inc({ rule: input.rule });
    await audit(prisma, {
      orgId: input.orgId,
      actorType: 'model',
      actorId: input.sessionId,
      sessionId: input.sessionId,
      action: 'tool.denied',
      target: input.tool.slice(0, 100),
      data: { rule: input.rule, reason: input.reason.slice(0, 500), toolUseId: input.toolUseId.slice(0, 200), turnId: input.turnId, userId: input.userId },
    });
  };
}
