/**
 * The one path of a device command, one device or a thousand: `queueDeviceCommands` writes each command's row with
 * the tool invocation and approval digest the command authority verified and this workflow as the one to tell
 * (`reportTo`); the api delivers it, records the device's result and sends this workflow a `commandResults` hint;
 * the workflow reads how the hinted commands ended from their rows. A session runs its tool call's commands with
 * `runDeviceCommands`; a remediation keeps a window of devices going with the same two calls.
 */
import { ApplicationFailure, condition, workflowInfo } from '@temporalio/workflow';
import { FailureType } from '../common/failures';
import { deviceCommandId } from '../common/ids';
import type { DeviceCommandPlan } from '../common/tools';
import type { ApprovalDecisionSignal, ApprovalOutcome } from '../common/session';
import { local } from './activities';
import type { DecisionCheck } from './await-approval';
import type { CommandClaim, CommandHints } from './command-hints';
import { Patch } from './patches';
import { isPatched } from './run-patches';

export interface CommandTarget {
  commandId: string;
  deviceId: string;
}

/**
 * How long a workflow that keeps its hints (`readKeptHints`) waits before reading them again when a
 * read settled none of them: their rows still running, so the hint did not come from the api, which sends one only
 * once the row holds the result. Read again at once, such a hint would loop reads (and audit events) until its
 * command ends. Decided on the read's result alone, which the replay gets from the history. Short: a real result
 * that somehow came before its hint's row (none should) is then late by this much, no more.
 */
export const UNCONFIRMED_HINTS_RECHECK = '2 seconds';

/** How the hinted commands really ended, from their rows; a claim the rows contradict is audited by the activity. */
export async function readHintedOutcomes(orgId: string, invocationId: string, hints: CommandHints): Promise<CommandClaim[]> {
  return readClaims(orgId, invocationId, hints.take());
}

/**
 * The same read, the hints kept until their commands are settled (CommandHints.claims() says why), as every wait since
 * `Patch.HintsReadWhenIdle` and `Patch.CallHintsOfAwaitedCommands` reads them (the caller has just counted them with
 * `pending()`, so each claim is for a command it awaits). When none of them has ended, waits UNCONFIRMED_HINTS_RECHECK
 * (or until `wake`) before the caller reads again.
 */
export async function readKeptHints(orgId: string, invocationId: string, hints: CommandHints, wake: () => boolean = () => false): Promise<CommandClaim[]> {
  const outcomes = await readClaims(orgId, invocationId, hints.claims());
  if (outcomes.length === 0) await condition(wake, UNCONFIRMED_HINTS_RECHECK);
  return outcomes;
}

async function readClaims(orgId: string, invocationId: string, claims: CommandClaim[]): Promise<CommandClaim[]> {
  const { outcomes } = await local.readCommandOutcomes({ orgId, reportTo: workflowInfo().workflowId, invocationId, claims });
  return outcomes;
}

/**
 * Runs one tool call's commands (one per device, as its execution plans them) and waits until each has an outcome.
 * `awaiting` is the set the session's `CommandHints` consults: a command is in it from before it is queued (a
 * result can arrive before the queueing returns) until its row says how it ended. `first`: what the step that
 * verified the call's approval answered for its first batch (`QueueWithApproval`), which is then not queued again.
 * Returns the command ids.
 */
export async function runDeviceCommands(
  ids: { orgId: string; invocationId: string },
  plans: DeviceCommandPlan[],
  awaiting: Set<string>,
  hints: CommandHints,
  first?: FirstBatch,
): Promise<string[]> {
  const reportTo = workflowInfo().workflowId;
  const commands = commandsOf(ids.invocationId, plans);
  for (const c of commands) awaiting.add(c.commandId);
  const settle = (outcomes: CommandClaim[]) => outcomes.forEach((o) => awaiting.delete(o.commandId));
  try {
    // Refused by the command checks when the approval was verified (audited there): the call fails, nothing was made,
    // with the checks' own failure, as when they ran in queueDeviceCommands (the turn shows its message).
    if (first && 'refused' in first) throw ApplicationFailure.nonRetryable(first.refused, first.type ?? FailureType.Unauthorized);
    // A tool runs one command kind with one set of parameters on every device it targets (common/tools): one batch.
    for (const [i, batch] of batchesOf(plans, commands).entries()) {
      if (i === 0 && first) {
        settle(first.settled);
        continue;
      }
      const { settled } = await local.queueDeviceCommands({ orgId: ids.orgId, kind: batch.kind, params: batch.params, reportTo, commands: batch.commands });
      settle(settled);
    }
    // A hint counts only while its command is awaited, and stays until that command is settled
    // (Patch.CallHintsOfAwaitedCommands; ./remediation.ts says why): one for a command the last read settled (a
    // duplicate, or one the live run took in with that read's result) asks for no read of its own, and a read that a
    // replay makes with more hints than the live run had (a timed-out task's signals come with the next task's)
    // leaves the same hints behind. A read that settles nothing waits before the next (UNCONFIRMED_HINTS_RECHECK).
    // Calls from before the patch count every hint they kept, and drop those they read, as they ran.
    const awaitedOnly = isPatched(Patch.CallHintsOfAwaitedCommands);
    while (commands.some((c) => awaiting.has(c.commandId))) {
      await condition(() => (awaitedOnly ? hints.pending() : hints.size) > 0);
      settle(await (awaitedOnly ? readKeptHints : readHintedOutcomes)(ids.orgId, ids.invocationId, hints));
    }
  } finally {
    for (const c of commands) awaiting.delete(c.commandId);
  }
  return commands.map((c) => c.commandId);
}

/** What `verifyDecisionAndQueue` answered for a call's first batch once its approval counted. */
export type FirstBatch = { settled: CommandClaim[] } | { refused: string; type?: string };

/**
 * A single tool call's approval, checked by the step that also queues the call's first batch when the decision is a
 * verified approval (`Patch.QueueWithApproval`): one local activity, `verifyDecisionAndQueue`, instead of
 * `verifyApprovalDecision` and then `queueDeviceCommands`. The checks are theirs, in their order; a decision that is
 * not a verified approval queues nothing. The batch's commands are awaited from before the step is asked (a result
 * can arrive before it returns) and forgotten again unless it queued them.
 */
export class QueueWithApproval implements DecisionCheck {
  private answer: FirstBatch | undefined;
  private readonly batch: Batch;

  constructor(
    private readonly ids: { orgId: string; invocationId: string },
    plans: DeviceCommandPlan[],
    private readonly awaiting: Set<string>,
    private readonly hints: CommandHints,
  ) {
    const first = batchesOf(plans, commandsOf(ids.invocationId, plans))[0];
    if (!first) throw new Error('a device call without commands has no batch to queue with its approval');
    this.batch = first;
  }

  /** What the step answered for the first batch, once a decision counted as an approval; undefined until then. */
  get first(): FirstBatch | undefined {
    return this.answer;
  }

  async verify(signal: ApprovalDecisionSignal): Promise<{ valid: true; outcome: ApprovalOutcome } | { valid: false; reason: string }> {
    const { commands } = this.batch;
    for (const c of commands) this.awaiting.add(c.commandId);
    let made = false;
    try {
      const verdict = await local.verifyDecisionAndQueue({
        signal,
        batch: { orgId: this.ids.orgId, kind: this.batch.kind, params: this.batch.params, reportTo: workflowInfo().workflowId, commands },
      });
      if (verdict.valid && verdict.queued) this.answer = { settled: verdict.queued.settled };
      else if (verdict.valid && verdict.refused !== undefined) this.answer = { refused: verdict.refused, ...(verdict.refusedType ? { type: verdict.refusedType } : {}) };
      made = verdict.valid && verdict.queued !== undefined;
      return verdict;
    } finally {
      if (!made) {
        for (const c of commands) this.awaiting.delete(c.commandId);
        this.hints.forget(commands.map((c) => c.commandId));
      }
    }
  }
}

/** One command per device, its id made from the call and the device (the idempotency key, the same on every replay). */
function commandsOf(invocationId: string, plans: DeviceCommandPlan[]): CommandTarget[] {
  return plans.map((p) => ({ commandId: deviceCommandId(invocationId, p.deviceId), deviceId: p.deviceId }));
}

type Batch = { kind: DeviceCommandPlan['kind']; params: DeviceCommandPlan['params']; commands: CommandTarget[] };

/** The commands grouped by kind and parameters, in their order (the command authority checks a batch as one). */
function batchesOf(plans: DeviceCommandPlan[], commands: CommandTarget[]): Batch[] {
  const batches = new Map<string, Batch>();
  plans.forEach((p, i) => {
    const key = JSON.stringify([p.kind, p.params]);
    const batch = batches.get(key) ?? { kind: p.kind, params: p.params, commands: [] };
    batch.commands.push(commands[i]!);
    batches.set(key, batch);
  });
  return [...batches.values()];
}
