import type { Prisma } from '@prisma/client';
import { ApplicationFailure, CompleteAsyncError, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { CommandParams, type CommandKind } from '../common/protocol';
import { isCommandOutcome, type CommandOutcome } from '../common/session';
import { announceCommands, insertCommands, orgAndDevices, statusesOf, type CommandBatch } from '../lib/device-commands';
import { audit } from '../audit/log';
import { createCommandAuthority, type AuthorizedCommands } from './command-authority';
import { assertCommandSession } from './session-identity';
import type { ActivityDeps } from './deps';

export interface DispatchDeviceCommandInput {
  orgId: string;
  /** Made in the workflow: the same id on every retry, so the command exists (and runs) once. */
  commandId: string;
  deviceId: string;
  kind: CommandKind;
  params: Record<string, unknown>;
}

export interface DispatchedCommand {
  commandId: string;
  status: CommandOutcome;
}


/**
 * Queues a command for one device and waits for its result without holding a worker slot: the activity stores
 * its task token on the `DeviceCommand` row and returns through async completion. The api node that receives the
 * agent's result (or sees the TTL pass) completes it, so the wait survives worker and api restarts.
 */
export function makeDispatchDeviceCommand({ prisma, pool, commands }: ActivityDeps) {
  const assertCommandsAuthorized = createCommandAuthority(prisma);
  return async function dispatchDeviceCommand(input: DispatchDeviceCommandInput): Promise<DispatchedCommand> {
    const { taskToken } = Context.current().info;
    const existing = await prisma.deviceCommand.findUnique({ where: { id: input.commandId } });
    if (existing && isCommandOutcome(existing.status)) {
      return { commandId: existing.id, status: existing.status };
    }
    // The invocation and approval digest the row carries are the ones the check verified, not the workflow's word.
    let authorized: AuthorizedCommands | null = null;
    if (!existing) {
      authorized = await assertCommandsAuthorized({ ...input, commands: [input] });
      // And only for the session's own workflow, with its breaker armed in the database.
      await assertCommandSession(prisma, input, 'dispatchDeviceCommand');
    }

    const params = CommandParams[input.kind].safeParse(input.params);
    if (!params.success) throw ApplicationFailure.nonRetryable(`invalid parameters for ${input.kind}`, FailureType.InvalidInput);
    const device = await prisma.device.findFirst({ where: { id: input.deviceId, orgId: input.orgId }, include: { org: true } });
    if (!device) throw ApplicationFailure.nonRetryable('device not found in this organization', FailureType.NotFound);
    const verified = { invocationId: authorized?.invocationId ?? null, approvalDigest: authorized?.approvalDigest ?? null };
    if (!existing && device.org.copilotPausedAt) {
      // Paused between the approval and now: the command is recorded as refused and never sent.
      await prisma.deviceCommand.create({
        data: { id: input.commandId, orgId: input.orgId, deviceId: input.deviceId, ...verified, kind: input.kind, params: params.data as Prisma.InputJsonValue, status: 'failed', errorCode: 'PAUSED', expiresAt: new Date(), completedAt: new Date() },
      });
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'command.denied', target: input.commandId, data: { rule: 'paused', kind: input.kind } });
      return { commandId: input.commandId, status: 'failed' };
    }

    if (existing) {
      // A retry: the earlier attempt's token is dead; the result must complete this attempt.
      await prisma.deviceCommand.update({ where: { id: existing.id }, data: { taskToken: Buffer.from(taskToken) } });
    } else {
      await prisma.deviceCommand.create({
        data: {
          id: input.commandId,
          orgId: input.orgId,
          deviceId: input.deviceId,
          ...verified,
          kind: input.kind,
          params: params.data as Prisma.InputJsonValue,
          status: 'pending',
          taskToken: Buffer.from(taskToken),
          expiresAt: new Date(Date.now() + commands.ttlSeconds * 1000),
        },
      });
    }
    await announceCommands(pool, [{ commandId: input.commandId, deviceId: input.deviceId }]);
    throw new CompleteAsyncError();
  };
}

export interface QueuedDeviceCommands {
  commands: QueueDeviceCommandsInput['commands'];
  settled: DispatchedCommand[];
}

export interface QueueDeviceCommandsInput extends CommandBatch {
  kind: CommandKind;
}

/**
 * Queues one command per device for a remediation and returns at once: the results reach the workflow named in
 * `reportTo` by signal, in batches, from whichever api node receives them. Returned are the commands that are
 * settled already (a retry finding earlier results, or an org paused before they were queued), and the batch
 * itself: run as a local activity, whose marker records only the result, this is how the history shows which
 * devices each batch started.
 */
export function makeQueueDeviceCommands({ pool, prisma, commands: config }: ActivityDeps) {
  const assertCommandsAuthorized = createCommandAuthority(prisma);
  return async function queueDeviceCommands(input: QueueDeviceCommandsInput): Promise<QueuedDeviceCommands> {
    // A remediation's plan is its workflow input, which anyone reaching Temporal can write: the batch must be part of
    // an authorized (and approved) run_remediation call.
    const authorized = await assertCommandsAuthorized(input);
    // By the remediation its session started for that call, while the session's breaker is armed in the database.
    if (input.commands[0]) await assertCommandSession(prisma, { ...input.commands[0], orgId: input.orgId }, 'queueDeviceCommands');
    const params = CommandParams[input.kind].safeParse(input.params);
    if (!params.success) throw ApplicationFailure.nonRetryable(`invalid parameters for ${input.kind}`, FailureType.InvalidInput);
    const org = await orgAndDevices(pool, input.orgId, input.commands.map((c) => c.deviceId));
    if (!org?.ownsAll) throw ApplicationFailure.nonRetryable('device not found in this organization', FailureType.NotFound);
    // Paused between the approval and now: recorded as refused and never sent. A command queued by an earlier
    // attempt keeps its row, whatever happened since.
    const state = org.paused ? ({ status: 'failed', errorCode: 'PAUSED' } as const) : ({ status: 'pending', expiresAt: new Date(Date.now() + config.ttlSeconds * 1000) } as const);
    // Each row carries the invocation and approval digest the check verified (none for an empty batch: no rows).
    const verified = { invocationId: authorized?.invocationId ?? null, approvalDigest: authorized?.approvalDigest ?? null };
    const created = await insertCommands(pool, { orgId: input.orgId, ...verified, kind: input.kind, params: params.data, reportTo: input.reportTo, commands: input.commands, state });
    if (org.paused && created > 0) {
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'command.denied', target: `${created} commands`, data: { rule: 'paused', kind: input.kind, reportTo: input.reportTo } });
    }
    // Usually every row is new; a retry finds some from its earlier attempt, which may have results already.
    const rows =
      created === input.commands.length
        ? input.commands.map((c) => ({ id: c.commandId, deviceId: c.deviceId, status: state.status as string }))
        : await statusesOf(pool, input.commands.map((c) => c.commandId));
    await announceCommands(pool, rows.filter((r) => r.status === 'pending').map((r) => ({ commandId: r.id, deviceId: r.deviceId })));
    return { commands: input.commands, settled: rows.flatMap((r) => (isCommandOutcome(r.status) ? [{ commandId: r.id, status: r.status }] : [])) };
  };
}
