/**
 * `dispatchDeviceCommand`: one device's command, as sessions (and the first remediation version) ran them before
 * every command took one path (`Patch.OneCommandPath` in workflows/patches.ts). Histories replay it without running
 * it; it runs only for a workflow that was waiting in it when the worker was upgraded. That attempt waited for the
 * api to complete it by task token, which nothing does any more: it times out on its heartbeat and is retried here,
 * where the command is queued on the one path like any other and its outcome read from its row, heartbeating while
 * it waits. Remove it with the frozen workflow branches that call it.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import type { CommandKind } from '../common/protocol';
import { isCommandOutcome } from '../common/session';
import type { ActivityDeps } from './deps';
import { makeQueueDeviceCommands, type DispatchedCommand } from './queue-device-commands';

export interface DispatchDeviceCommandInput {
  orgId: string;
  commandId: string;
  deviceId: string;
  kind: CommandKind;
  params: Record<string, unknown>;
}

const POLL_MS = 2_000;

export function makeDispatchDeviceCommand(deps: ActivityDeps) {
  const queueDeviceCommands = makeQueueDeviceCommands(deps);
  return async function dispatchDeviceCommand(input: DispatchDeviceCommandInput): Promise<DispatchedCommand> {
    const ctx = Context.current();
    const { commandId, deviceId } = input;
    const reportTo = ctx.info.workflowExecution?.workflowId;
    if (!reportTo) throw ApplicationFailure.nonRetryable('a device command is made only for a workflow', FailureType.InvalidInput);
    const { settled } = await queueDeviceCommands({ orgId: input.orgId, kind: input.kind, params: input.params, reportTo, commands: [{ commandId, deviceId }] });
    if (settled[0]) return settled[0];
    for (;;) {
      ctx.heartbeat();
      await ctx.sleep(POLL_MS);
      const row = await deps.prisma.deviceCommand.findUnique({ where: { id: commandId }, select: { status: true } });
      if (row && isCommandOutcome(row.status)) return { commandId, status: row.status };
    }
  };
}
