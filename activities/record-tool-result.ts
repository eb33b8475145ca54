import { ApplicationFailure } from '@temporalio/activity';
import type { Device, DeviceCommand } from '@prisma/client';
import { FailureType } from '../common/failures';
import { CANARY_STEP_MARK } from '../common/ids';
import type { ToolOutcome } from '../common/session';
import { isToolName } from '../common/tools';
import type { ActivityDeps } from './deps';
import { assertCallersSession } from './session-identity';
import { finishInvocation } from './tool-output';
import { isSafeCode, SAFE_ERRORS } from '../cage/error-sanitizer';
import { resultKeeperOf, summarizeCommandOutput, type SucceededCommand } from './tools/handlers';
import type { CommandKind } from '../common/protocol';

/** Turns the finished device commands of one tool call into its recorded output and a summary for the workflow. */
export function makeRecordToolResult(deps: ActivityDeps) {
  const { prisma, logger } = deps;
  return async function recordToolResult(input: { invocationId: string; commandIds: string[]; commandsInRecord?: boolean; skippedDevices?: number; cancelledDevices?: number }): Promise<ToolOutcome> {
    // The invocation with its session (the identity check below), and the named commands with their devices: read
    // side by side, not one after the other (a remediation's commands are found by the invocation, so after it).
    const [inv, named] = await Promise.all([
      prisma.toolInvocation.findUnique({ where: { id: input.invocationId }, include: { session: { select: { orgId: true, workflowId: true } } } }),
      // Only this call's own commands: the ids are the caller's word (anyone's who reaches Temporal), and another
      // call's rows (another session's, another org's) would become this call's output.
      input.commandsInRecord ? null : prisma.deviceCommand.findMany({ where: { id: { in: input.commandIds }, invocationId: input.invocationId }, include: { device: true } }),
    ]);
    // A remediation names no command ids (thousands of them would not fit a payload): its commands are the rows made
    // for this invocation and its devices, a canary's read-back and undo left out (they are no devices of the count).
    const commands =
      named ??
      (inv
        ? await prisma.deviceCommand.findMany({ where: { invocationId: inv.id, orgId: inv.orgId, NOT: { id: { contains: CANARY_STEP_MARK } } }, include: { device: true }, orderBy: { createdAt: 'asc' } })
        : []);
    const expected = input.commandsInRecord ? commands.length : input.commandIds.length;
    if (!inv || !isToolName(inv.toolName) || commands.length !== expected || (commands.length === 0 && !input.skippedDevices && !input.cancelledDevices)) {
      throw ApplicationFailure.nonRetryable('tool invocation or command not found', FailureType.NotFound);
    }
    // The session the invocation is of must be the caller's (as assertSession checks it, on the row read with it).
    await assertCallersSession(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, inv.session, 'recordToolResult');
    const succeeded: SucceededCommand[] = [];
    // What is known of each device a command did not reach because it is offline (its record, its last reading).
    const known = new Map(await Promise.all(commands.filter(wasOffline).map(async (cmd) => [cmd.id, await lastKnown(deps, cmd)] as const)));
    const perDevice = commands.map((cmd): { device: string; commandId: string; ok: boolean; summary: string; output?: unknown } => {
      const offline = known.get(cmd.id);
      if (offline) return { device: cmd.device.name, commandId: cmd.id, ...offline };
      if (cmd.status === 'succeeded') {
        try {
          const result = summarizeCommandOutput(cmd.kind as CommandKind, cmd.result);
          succeeded.push({ cmd, output: result.output });
          return { device: cmd.device.name, commandId: cmd.id, ok: true, summary: result.summary, output: result.output };
        } catch (err) {
          logger.warn({ commandId: cmd.id, err: (err as Error).message }, 'device output did not match its schema');
          return { device: cmd.device.name, commandId: cmd.id, ok: false, summary: 'the device returned output in an unexpected format' };
        }
      }
      const code = cmd.status === 'expired' ? 'DEVICE_OFFLINE' : (cmd.errorCode ?? 'EXECUTION_FAILED');
      // Fixed texts from the sanitizer's allowlist: an agent's own error text never reaches the model.
      return { device: cmd.device.name, commandId: cmd.id, ok: false, summary: isSafeCode(code) ? SAFE_ERRORS[code] : SAFE_ERRORS.EXECUTION_FAILED };
    });
    // What the tool keeps besides its output (a network scan's hosts), before the call is recorded as finished.
    await resultKeeperOf(inv.toolName)?.(prisma, succeeded);
    const okCount = perDevice.filter((d) => d.ok).length;
    const skipped = input.skippedDevices ?? 0;
    const cancelled = input.cancelledDevices ?? 0;
    const status = okCount > 0 ? 'succeeded' : 'failed';
    const failedFirst = [...perDevice].sort((a, b) => Number(a.ok) - Number(b.ok));
    const summary =
      perDevice.length === 1 && skipped === 0 && cancelled === 0
        ? `${perDevice[0]!.device}: ${perDevice[0]!.summary}`
        : `${okCount} of ${perDevice.length + skipped + cancelled} devices succeeded` +
          (skipped ? `, ${skipped} not started after the failure threshold` : '') +
          (cancelled ? `, ${cancelled} not started because the remediation was cancelled` : '') +
          (perDevice.length ? `; ${failedFirst.slice(0, 3).map((d) => `${d.device}: ${d.summary}`).join('; ')}` : '');
    // A single device's output carries its command id too: get_command_result reads it back (and pages through its full output).
    const single = perDevice.length === 1 && perDevice[0]!.ok && skipped === 0 && cancelled === 0 ? perDevice[0]! : undefined;
    const output = single ? { commandId: single.commandId, ...(single.output as object) } : { devices: perDevice, skipped, cancelled };
    return finishInvocation(deps, inv, { status, summary, output, commandId: commands[0]?.id ?? null });
  };
}

type CommandRow = DeviceCommand & { device: Device };

/** Not run because its device is offline: answered at once (a live read), or waited for until its time ran out. */
const wasOffline = (cmd: CommandRow) => cmd.errorCode === 'DEVICE_OFFLINE' && (cmd.status === 'failed' || cmd.status === 'expired');

/**
 * What is known of an offline device instead of a live reading: when it was last seen, and its last reading of the
 * same kind (as any session of the org got it), with its time. A live read answered this way counts as answered
 * (`ok`), said plainly to be no live reading; a command that waited until its time ran out is still a failure.
 */
async function lastKnown(deps: ActivityDeps, cmd: CommandRow): Promise<{ ok: boolean; summary: string; output: unknown }> {
  const since = cmd.device.lastSeenAt ? `offline since ${cmd.device.lastSeenAt.toISOString()}` : 'offline (never connected)';
  const answeredNow = cmd.status === 'failed';
  const last = await deps.prisma.deviceCommand.findFirst({
    where: { deviceId: cmd.deviceId, orgId: cmd.orgId, kind: cmd.kind, status: 'succeeded', id: { not: cmd.id } },
    orderBy: { finishedAt: 'desc' },
    select: { result: true, finishedAt: true },
  });
  let reading: { at: string | null; summary: string; output: unknown } | null = null;
  if (last) {
    try {
      const r = summarizeCommandOutput(cmd.kind as CommandKind, last.result);
      reading = { at: last.finishedAt?.toISOString() ?? null, summary: r.summary, output: r.output };
    } catch {
      reading = null;
    }
  }
  const what = answeredNow ? 'not read live' : 'the command waited until its time ran out and never ran';
  const lastText = reading ? `last known (read ${reading.at ?? 'earlier'}): ${reading.summary}` : 'no earlier reading of it is recorded';
  const output = {
    live: false,
    online: false,
    offlineSince: cmd.device.lastSeenAt?.toISOString() ?? null,
    device: { name: cmd.device.name, hostname: cmd.device.hostname, os: cmd.device.os, agentVersion: cmd.device.agentVersion },
    lastKnown: reading,
    ...(cmd.device.inventory ? { inventory: cmd.device.inventory, inventoryAt: cmd.device.inventoryAt?.toISOString() ?? null } : {}),
    note: answeredNow ? 'The device is offline, so this was answered from what is known. To read it live, ask again and say to wait for the device.' : SAFE_ERRORS.DEVICE_OFFLINE,
  };
  return { ok: answeredNow, summary: `${since}, ${what}; ${lastText}`, output };
}
