/**
 * `queueDeviceCommands`: the one way a device command is made, for a session's single tool call and a remediation's
 * batches alike.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { CommandParams, type CommandKind } from '../common/protocol';
import { isCommandOutcome, type CommandOutcome } from '../common/session';
import { announceCommands, insertCommands, statusesOf, type CommandBatch, type NewCommands, type OfflineDevice } from '../lib/device-commands';
import { copilotWorkflowId } from '../common/ids';
import { publishSessionEvent } from '../lib/session-events';
import type { PrismaClient } from '../lib/prisma';
import { audit } from '../audit/log';
import { traceparentOf } from '../lib/tracing';
import { createCommandAuthority, type AuthorizedCommands, type PreRead } from './command-authority';
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
 * commands that are settled already (a retry finding earlier results, an org paused before they were queued, or a
 * live read of an offline device, answered at once from what is known unless the call asked to wait),
 * and the batch itself (its kind and parameters too): run as a local activity, whose marker records only the
 * result, this is how the history shows which command each batch started on which devices.
 */
export function makeQueueDeviceCommands(deps: ActivityDeps) {
  const check = makeBatchCheck(deps);
  const { pool, prisma } = deps;
  return async function queueDeviceCommands(input: QueueDeviceCommandsInput): Promise<QueuedDeviceCommands> {
    const checked = await check(input);
    if (!checked) return { kind: input.kind, params: input.params, commands: input.commands, settled: [] };
    const { batch, queued, answeredNow, state } = checked;
    let created = await insertCommands(pool, { ...batch, commands: queued, state });
    if (answeredNow.length) created += await insertCommands(pool, { ...batch, commands: answeredNow, state: { status: 'failed', errorCode: 'DEVICE_OFFLINE' } });
    // Usually every row is new; a retry finds some from its earlier attempt, which may have results already.
    const rows =
      created === input.commands.length
        ? [...queued.map((c) => ({ id: c.commandId, deviceId: c.deviceId, status: state.status as string })), ...answeredNow.map((c) => ({ id: c.commandId, deviceId: c.deviceId, status: 'failed' }))]
        : await statusesOf(pool, input.commands.map((c) => c.commandId));
    await announceCommands(pool, rows.filter((r) => r.status === 'pending').map((r) => ({ commandId: r.id, deviceId: r.deviceId })));
    return afterQueued(prisma, checked, created, rows);
  };
}

/** A batch the checks let through: what its rows carry, and how each is made. */
export interface CheckedBatch {
  input: QueueDeviceCommandsInput;
  authorized: AuthorizedCommands;
  /** What every row carries. */
  batch: Omit<NewCommands, 'commands' | 'state'>;
  /** The commands made pending (or, paused, refused), and those of offline devices answered at once. */
  queued: QueueDeviceCommandsInput['commands'];
  answeredNow: QueueDeviceCommandsInput['commands'];
  state: NewCommands['state'];
  /** Until when a pending command waits for its device. */
  expiresAt: Date;
  paused: boolean;
  offline: Map<string, OfflineDevice>;
}

/**
 * The checks before a batch is written, and what its rows will be; null for an empty batch. Throws, audited where the
 * check says so, when the batch may not be made. `read`: the batch's record as the caller read it with its own rows
 * (activities/approved-commands.ts); else read here.
 */
export function makeBatchCheck({ pool, prisma, commands: config }: ActivityDeps) {
  const assertCommandsAuthorized = createCommandAuthority({ prisma, pool });
  return async function checkBatch(input: QueueDeviceCommandsInput, read?: PreRead): Promise<CheckedBatch | null> {
    // Workflow input and activity arguments are anyone's who reaches Temporal: the batch must be part of an authorized
    // (and, for T3/T4, approved) tool call.
    // The call's record, its session and the batch's org and devices are read in one statement (activities/command-record.ts).
    const verified = await assertCommandsAuthorized(input, read);
    if (!verified || !input.commands[0]) return null;
    const { authorized, record } = verified;
    // By the session that made the call, or the remediation it started for it, while its breaker is armed.
    await assertCommandSession(prisma, { ...input.commands[0], orgId: input.orgId }, 'queueDeviceCommands', record);
    const params = CommandParams[input.kind].safeParse(input.params);
    if (!params.success) throw ApplicationFailure.nonRetryable(`invalid parameters for ${input.kind}`, FailureType.InvalidInput);
    const org = record.org;
    if (!org?.ownsAll) throw ApplicationFailure.nonRetryable('device not found in this organization', FailureType.NotFound);
    const { invocationId, approvalDigest } = authorized;
    const batch = { orgId: input.orgId, invocationId, approvalDigest, kind: input.kind, params: params.data, reportTo: input.reportTo, traceparent: traceparentOf() ?? null };
    // Paused between the approval and now: recorded as refused and never sent. A command queued by an earlier
    // attempt keeps its row, whatever happened since.
    const expiresAt = new Date(Date.now() + config.ttlSeconds * 1000);
    const state = org.paused ? ({ status: 'failed', errorCode: 'PAUSED' } as const) : ({ status: 'pending', expiresAt } as const);
    // A live read of a device that is offline is answered now from what is known (recordToolResult), not queued for
    // the device's return, unless the call asked to wait: its row is settled at once as DEVICE_OFFLINE, never sent.
    const offline = new Map(org.offline.map((d) => [d.id, d]));
    const answeredNow = authorized.answersOffline && !org.paused ? input.commands.filter((c) => offline.has(c.deviceId)) : [];
    const queued = input.commands.filter((c) => !answeredNow.includes(c));
    return { input, authorized, batch, queued, answeredNow, state, expiresAt, paused: org.paused, offline };
  };
}

/**
 * After a checked batch's rows are written (`created` of them new; `rows`: every command of the batch as it now is):
 * a pause that refused them audited, a session's commands that wait for an offline device announced, and the
 * activity's answer.
 */
export async function afterQueued(prisma: PrismaClient, checked: CheckedBatch, created: number, rows: { id: string; deviceId: string; status: string }[]): Promise<QueuedDeviceCommands> {
  const { input, authorized, offline } = checked;
  if (checked.paused && created > 0) {
    await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'command.denied', target: `${created} commands`, data: { rule: 'paused', kind: input.kind, reportTo: input.reportTo } });
  }
  // Nobody waits in silence: a session's command that waits for an offline device says so, until when, and how to
  // cancel it (a remediation shows its devices on its own page).
  if (created > 0 && input.reportTo === copilotWorkflowId(input.orgId, authorized.call.sessionId)) {
    const { expiresAt } = checked;
    for (const r of rows.filter((x) => x.status === 'pending')) {
      const device = offline.get(r.deviceId);
      // Told on a best effort: the session's view shows the waiting command from its row either way.
      if (device) await announceWaiting(prisma, authorized.call, { commandId: r.id, device, expiresAt }).catch(() => undefined);
    }
  }
  return { kind: input.kind, params: input.params, commands: input.commands, settled: rows.flatMap((r) => (isCommandOutcome(r.status) ? [{ commandId: r.id, status: r.status }] : [])) };
}

/** `command:waiting` on the session's turn: which device, since when it is away, until when the command waits. */
async function announceWaiting(prisma: PrismaClient, call: AuthorizedCommands['call'], w: { commandId: string; device: OfflineDevice; expiresAt: Date }): Promise<void> {
  const since = w.device.lastSeenAt ? `offline since ${w.device.lastSeenAt.toISOString()}` : 'offline (never connected)';
  const minutes = Math.max(1, Math.round((w.expiresAt.getTime() - Date.now()) / 60_000));
  await publishSessionEvent(prisma, {
    sessionId: call.sessionId,
    turnId: call.turnId,
    type: 'command:waiting',
    tool: call.tool,
    commandId: w.commandId,
    device: w.device.name,
    expiresAt: w.expiresAt.toISOString(),
    text: `${w.device.name} is ${since}: ${call.tool} is queued and runs when it reconnects, until ${w.expiresAt.toISOString()} (about ${minutes} min); then it ends unrun`,
  });
}
