/**
 * `queueDeviceCommands`: the one way a device command is made, for a session's single tool call and a remediation's
 * batches alike.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { CommandParams, type CommandKind } from '../common/protocol';
import { isCommandOutcome, type CommandOutcome } from '../common/session';
import { announceCommands, insertCommands, orgAndDevices, statusesOf, type CommandBatch } from '../lib/device-commands';
import { audit } from '../audit/log';
import { traceparentOf } from '../lib/tracing';
import { createCommandAuthority } from './command-authority';
import { assertCommandSession } from './session-identity';
import type { ActivityDeps } from './deps';

export interface DispatchedCommand {
  commandId: string;
  status: CommandOutcome;
}

export interface QueuedDeviceCommands {
  kind: CommandKind;
  params: Record<string, unknown>;
  commands: QueueDeviceCommandsInput['commands'];
  settled: DispatchedCommand[];
}

export interface QueueDeviceCommandsInput extends CommandBatch {
  kind: CommandKind;
}

/**
 * Queues one command per device and returns at once: the results reach the workflow named in `reportTo` (the
 * calling session or remediation) by the `commandResults` signal, from whichever api node receives them. Each row
 * carries the invocation and approval digest the command authority verified, and `reportTo`. Returned are the
 * commands that are settled already (a retry finding earlier results, or an org paused before they were queued),
 * and the batch itself (its kind and parameters too): run as a local activity, whose marker records only the
 * result, this is how the history shows which command each batch started on which devices.
 */
export function makeQueueDeviceCommands({ pool, prisma, commands: config }: ActivityDeps) {
  const assertCommandsAuthorized = createCommandAuthority(prisma);
  return async function queueDeviceCommands(input: QueueDeviceCommandsInput): Promise<QueuedDeviceCommands> {
    // Workflow input and activity arguments are anyone's who reaches Temporal: the batch must be part of an authorized
    // (and, for T3/T4, approved) tool call.
    const authorized = await assertCommandsAuthorized(input);
    if (!authorized || !input.commands[0]) return { kind: input.kind, params: input.params, commands: input.commands, settled: [] };
    // By the session that made the call, or the remediation it started for it, while its breaker is armed.
    await assertCommandSession(prisma, { ...input.commands[0], orgId: input.orgId }, 'queueDeviceCommands');
    const params = CommandParams[input.kind].safeParse(input.params);
    if (!params.success) throw ApplicationFailure.nonRetryable(`invalid parameters for ${input.kind}`, FailureType.InvalidInput);
    const org = await orgAndDevices(pool, input.orgId, input.commands.map((c) => c.deviceId));
    if (!org?.ownsAll) throw ApplicationFailure.nonRetryable('device not found in this organization', FailureType.NotFound);
    // Paused between the approval and now: recorded as refused and never sent. A command queued by an earlier
    // attempt keeps its row, whatever happened since.
    const state = org.paused ? ({ status: 'failed', errorCode: 'PAUSED' } as const) : ({ status: 'pending', expiresAt: new Date(Date.now() + config.ttlSeconds * 1000) } as const);
    const created = await insertCommands(pool, { orgId: input.orgId, ...authorized, kind: input.kind, params: params.data, reportTo: input.reportTo, commands: input.commands, state, traceparent: traceparentOf() ?? null });
    if (org.paused && created > 0) {
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'command.denied', target: `${created} commands`, data: { rule: 'paused', kind: input.kind, reportTo: input.reportTo } });
    }
    // Usually every row is new; a retry finds some from its earlier attempt, which may have results already.
    const rows =
      created === input.commands.length
        ? input.commands.map((c) => ({ id: c.commandId, deviceId: c.deviceId, status: state.status as string }))
        : await statusesOf(pool, input.commands.map((c) => c.commandId));
    await announceCommands(pool, rows.filter((r) => r.status === 'pending').map((r) => ({ commandId: r.id, deviceId: r.deviceId })));
    return { kind: input.kind, params: input.params, commands: input.commands, settled: rows.flatMap((r) => (isCommandOutcome(r.status) ? [{ commandId: r.id, status: r.status }] : [])) };
  };
}
