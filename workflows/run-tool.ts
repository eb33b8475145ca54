/**
 * One tool call of a turn: the breaker and the kill switch first (decided here, then audited by an activity), then
 * authorization, an approval for T3/T4, execution, and the result recorded for the model.
 */
import { executeChild, workflowInfo } from '@temporalio/workflow';
import { BREAKER_DENIAL, PAUSED_DENIAL, type ToolResultRef, type TurnState } from '../common/session';
import { remediationWorkflowId } from '../common/ids';
import { db as tasks, steps, upstream } from './activities';
import { awaitApproval } from './await-approval';
import { QueueWithApproval, runDeviceCommands } from './device-commands';
import { dispatchEachCommand } from './frozen/dispatch-each-command';
import { Patch } from './patches';
import { isPatched } from './run-patches';
import { remediation } from './remediation';
import type { CopilotSessionState, ToolStep } from './session-state';

export interface TurnIds {
  sessionId: string;
  orgId: string;
  turnId: string;
}

type ToolUse = { id: string; name: string; input: unknown };

export async function runTool(ids: TurnIds, session: CopilotSessionState, turn: TurnState, toolUse: ToolUse): Promise<ToolResultRef> {
  const local = session.breaker.tripped ? BREAKER_DENIAL : session.paused ? PAUSED_DENIAL : null;
  if (local) {
    session.addToolStep(turn, { kind: 'tool', toolUseId: toolUse.id, tool: toolUse.name, status: 'denied', summary: local });
    // Every denial is audited with its rule. An activity call adds commands to the history, so histories recorded
    // before it replay without it. The denial stands whether or not the audit write succeeds.
    if (isPatched(Patch.AuditLocalDenials)) {
      const rule = session.breaker.tripped ? 'breaker' : 'paused';
      await steps().recordLocalDenial({ ...ids, userId: turn.userId, toolUseId: toolUse.id, tool: toolUse.name, rule, reason: local }).catch(() => undefined);
    }
    return { toolUseId: toolUse.id, deniedReason: local };
  }

  const db = steps();
  const auth = await db.authorizeToolCall({ ...ids, userId: turn.userId, toolUse, tainted: session.tainted });
  const step: ToolStep = session.addToolStep(turn, {
    kind: 'tool',
    toolUseId: toolUse.id,
    tool: toolUse.name,
    invocationId: auth.invocationId,
    status: auth.decision === 'deny' ? 'denied' : 'running',
    ...(auth.decision === 'deny' ? { summary: auth.reason } : { tier: auth.tier }),
  });
  const ref = { toolUseId: toolUse.id, invocationId: auth.invocationId };
  if (auth.decision === 'deny') return ref;

  let queuedWithApproval: QueueWithApproval | undefined;
  if (auth.decision === 'approve') {
    const request = await tasks.requestApproval({ ...ids, invocationId: auth.invocationId, tier: auth.tier, digest: auth.digest, targets: auth.targets, ...(auth.targetsInRecord ? { targetsInRecord: true } : {}) });
    step.status = 'awaiting_approval';
    step.approvalId = request.approvalId;
    session.pendingApproval = { approvalId: request.approvalId, tool: toolUse.name, tier: auth.tier, expiresAt: request.expiresAt };
    // A device call's first batch is queued by the step that verifies its approval (runs since the patch).
    const plan = auth.execution;
    queuedWithApproval =
      plan.type === 'devices' && plan.commands.length > 0 && isPatched(Patch.QueueWithApproval) && isPatched(Patch.OneCommandPath)
        ? new QueueWithApproval({ orgId: ids.orgId, invocationId: auth.invocationId }, plan.commands, session.awaitedCommands, session.commandHints)
        : undefined;
    const outcome = await awaitApproval(session, request.approvalId, Date.parse(request.expiresAt), queuedWithApproval);
    session.pendingApproval = null;
    if (outcome.status !== 'approved') {
      step.status = 'rejected';
      step.summary = outcome.status === 'cancelled' ? outcome.reason : `${outcome.status}${outcome.reason ? `: ${outcome.reason}` : ''}`;
      if ((outcome.status === 'rejected' || outcome.status === 'expired') && session.rejected(auth.breakerStreak)) {
        await tasks.recordBreakerTrip({ sessionId: ids.sessionId, orgId: ids.orgId, streak: session.breaker.streak, ...(auth.breakerStreak !== undefined ? { limit: auth.breakerStreak } : {}) });
      }
      return ref;
    }
    session.approved();
    step.status = 'running';
  }

  let outcome;
  const execution = auth.execution;
  if (execution.type === 'database') {
    outcome = await db.runDatabaseTool({ invocationId: auth.invocationId, userId: turn.userId });
  } else if (execution.type === 'upstream') {
    // An upstream MCP server's tool: one activity calls it (at most once, whatever the retries) and records its result.
    outcome = await upstream.callUpstreamTool({ invocationId: auth.invocationId, userId: turn.userId });
  } else if (execution.type === 'remediation') {
    const { type: _type, ...plan } = execution;
    const result = await executeChild(remediation, {
      workflowId: remediationWorkflowId(workflowInfo().workflowId, toolUse.id),
      args: [{ ...plan, orgId: ids.orgId, invocationId: auth.invocationId }],
    });
    // Since remediations read their devices from the record, their commands are read there too (no list of ids).
    const commands = result.commandsInRecord ? { commandIds: [], commandsInRecord: true } : { commandIds: result.commandIds ?? [] };
    outcome = await db.recordToolResult({ invocationId: auth.invocationId, ...commands, skippedDevices: result.skipped, cancelledDevices: result.cancelled ?? 0 });
  } else {
    // One command per device; each id is the idempotency key, the same on every retry and replay.
    const call = { orgId: ids.orgId, invocationId: auth.invocationId };
    const commandIds = isPatched(Patch.OneCommandPath)
      ? await runDeviceCommands(call, execution.commands, session.awaitedCommands, session.commandHints, queuedWithApproval?.first)
      : await dispatchEachCommand(call, execution.commands);
    outcome = await db.recordToolResult({ invocationId: auth.invocationId, commandIds });
  }
  step.status = outcome.status;
  step.summary = outcome.summary;
  // Content that looks like injected instructions taints the session: every later call needs a human (policy).
  if (outcome.flagged) session.tainted = true;
  return ref;
}
