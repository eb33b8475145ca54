/**
 * The one path of a device command, one device or a thousand: `queueDeviceCommands` writes each command's row with
 * the tool invocation and approval digest the command authority verified and this workflow as the one to tell
 * (`reportTo`); the api delivers it, records the device's result and sends this workflow a `commandResults` hint;
 * the workflow reads how the hinted commands ended from their rows. A session runs its tool call's commands with
 * `runDeviceCommands`; a remediation keeps a window of devices going with the same two calls.
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import { deviceCommandId } from '../common/ids';
import type { DeviceCommandPlan } from '../common/tools';
import { local } from './activities';
import type { CommandClaim, CommandHints } from './command-hints';

export interface CommandTarget {
  commandId: string;
  deviceId: string;
}

/** How the hinted commands really ended, from their rows; a claim the rows contradict is audited by the activity. */
export async function readHintedOutcomes(orgId: string, invocationId: string, hints: CommandHints): Promise<CommandClaim[]> {
  const { outcomes } = await local.readCommandOutcomes({ orgId, reportTo: workflowInfo().workflowId, invocationId, claims: hints.take() });
  return outcomes;
}

/**
 * Runs one tool call's commands (one per device, as its execution plans them) and waits until each has an outcome.
 * `awaiting` is the set the session's `CommandHints` consults: a command is in it from before it is queued (a
 * result can arrive before the queueing returns) until its row says how it ended. Returns the command ids.
 */
export async function runDeviceCommands(
  ids: { orgId: string; invocationId: string },
  plans: DeviceCommandPlan[],
  awaiting: Set<string>,
  hints: CommandHints,
): Promise<string[]> {
  const reportTo = workflowInfo().workflowId;
  const commands = plans.map((p) => ({ commandId: deviceCommandId(ids.invocationId, p.deviceId), deviceId: p.deviceId }));
  for (const c of commands) awaiting.add(c.commandId);
  const settle = (outcomes: CommandClaim[]) => outcomes.forEach((o) => awaiting.delete(o.commandId));
  try {
    // A tool runs one command kind with one set of parameters on every device it targets (common/tools): one batch.
    for (const batch of batchesOf(plans, commands)) {
      const { settled } = await local.queueDeviceCommands({ orgId: ids.orgId, kind: batch.kind, params: batch.params, reportTo, commands: batch.commands });
      settle(settled);
    }
    while (commands.some((c) => awaiting.has(c.commandId))) {
      await condition(() => hints.size > 0);
      settle(await readHintedOutcomes(ids.orgId, ids.invocationId, hints));
    }
  } finally {
    for (const c of commands) awaiting.delete(c.commandId);
  }
  return commands.map((c) => c.commandId);
}

/** The commands grouped by kind and parameters, in their order (the command authority checks a batch as one). */
function batchesOf(plans: DeviceCommandPlan[], commands: CommandTarget[]) {
  const batches = new Map<string, { kind: DeviceCommandPlan['kind']; params: DeviceCommandPlan['params']; commands: CommandTarget[] }>();
  plans.forEach((p, i) => {
    const key = JSON.stringify([p.kind, p.params]);
    const batch = batches.get(key) ?? { kind: p.kind, params: p.params, commands: [] };
    batch.commands.push(commands[i]!);
    batches.set(key, batch);
  });
  return [...batches.values()];
}
