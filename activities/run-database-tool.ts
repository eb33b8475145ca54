import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import type { ToolOutcome } from '../common/session';
import { ToolInput, isDatabaseTool, isToolName } from '../common/tools';
import { SAFE_ERRORS } from '../cage/error-sanitizer';
import { audit } from '../audit/log';
import { userSites } from '../lib/site-scope';
import { tenantDb } from '../lib/tenant-db';
import { ACTING_ROLES } from './authorize-tool-call';
import type { ActivityDeps } from './deps';
import { finishInvocation } from './tool-output';
import { DATABASE_HANDLERS } from './tools/handlers';
import { auditSessionRefusal, checkSession, turnAuthor } from './session-identity';
import { approvalOf } from './command-authority';
import { runWithin } from './tool-reach';

/** Runs an authorized tool that works on our own database (no device involved) and records its output. */
export function makeRunDatabaseTool(deps: ActivityDeps) {
  const { prisma } = deps;
  return async function runDatabaseTool(input: { invocationId: string; userId: string }): Promise<ToolOutcome> {
    const inv = await prisma.toolInvocation.findUnique({ where: { id: input.invocationId } });
    if (!inv || inv.decision === 'deny' || !isToolName(inv.toolName)) {
      throw ApplicationFailure.nonRetryable('no authorized tool invocation with this id', FailureType.NotFound);
    }
    if (inv.status === 'succeeded' || inv.status === 'failed') return { invocationId: inv.id, status: inv.status, summary: inv.summary ?? '' };
    // Only for the session's own workflow; a breaker tripped in the database holds whatever the workflow's state says.
    const known = await checkSession(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, { breaker: true, onBreakerTrip: () => deps.metrics.breakerTrips.inc() });
    if (!known.ok) {
      await auditSessionRefusal(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, known, { activity: 'runDatabaseTool', target: inv.toolName, data: { invocationId: inv.id } }).catch(() => undefined);
      if (known.rule === 'session_identity') throw ApplicationFailure.nonRetryable(`runDatabaseTool refused: ${known.reason}`, FailureType.Unauthorized);
      return finishInvocation(deps, inv, { status: 'failed', summary: known.reason, output: { error: known.reason } });
    }
    if (!isDatabaseTool(inv.toolName)) throw ApplicationFailure.nonRetryable(`${inv.toolName} runs on devices`, FailureType.InvalidInput);
    const approved = await approvalOf(prisma, inv);
    if (typeof approved === 'string') {
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, sessionId: inv.sessionId, action: 'tool.denied', target: inv.toolName, data: { invocationId: inv.id, rule: 'approval', reason: approved } });
      return finishInvocation(deps, inv, { status: 'failed', summary: `not run: ${approved}`, output: { error: approved } });
    }
    const handler = DATABASE_HANDLERS[inv.toolName];
    // The kill switch holds between authorization and execution too: a pause that lands meanwhile stops the write.
    // The requester is the turn's author (its message row, written only for a verified request), as authorization
    // checked it: a caller naming someone else (activity arguments are anyone's who reaches Temporal) acts for nobody.
    const [org, author] = await Promise.all([prisma.organization.findUniqueOrThrow({ where: { id: inv.orgId }, select: { copilotPausedAt: true } }), turnAuthor(prisma, inv.sessionId, inv.turnId)]);
    if (org.copilotPausedAt) {
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, sessionId: inv.sessionId, action: 'tool.denied', target: inv.toolName, data: { invocationId: inv.id, rule: 'paused', reason: SAFE_ERRORS.PAUSED } });
      return finishInvocation(deps, inv, { status: 'failed', summary: SAFE_ERRORS.PAUSED, output: { error: SAFE_ERRORS.PAUSED } });
    }
    if (author !== input.userId) {
      const reason = 'the requester named is not the author of this turn; nothing was run';
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, sessionId: inv.sessionId, action: 'tool.denied', target: inv.toolName, data: { invocationId: inv.id, rule: 'turn_author', reason, claimedUserId: input.userId.slice(0, 100) } });
      return finishInvocation(deps, inv, { status: 'failed', summary: `not run: ${reason}`, output: { error: reason } });
    }
    const args = ToolInput[inv.toolName].parse(inv.input) as never;
    const result = await (handler.run as (ctx: unknown, i: never) => Promise<{ output: unknown; summary: string }>)(
      {
        prisma: tenantDb(prisma, { orgIds: [inv.orgId] }),
        orgId: inv.orgId,
        // Never beyond the sites authorization recorded for the call: those decide who may read this output.
        sites: runWithin(await userSites(prisma, input.userId, inv.orgId, ACTING_ROLES), inv.siteIds),
        userId: input.userId,
        sessionId: inv.sessionId,
      },
      args,
    );
    return finishInvocation(deps, inv, { status: 'succeeded', summary: result.summary, output: result.output });
  };
}
