import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import type { ToolOutcome } from '../common/session';
import { isToolName } from '../common/tools';
import type { ActivityDeps } from './deps';
import { assertSession } from './session-identity';
import { finishInvocation } from './tool-output';
import { isSafeCode, SAFE_ERRORS } from '../cage/error-sanitizer';
import { resultKeeperOf, summarizeCommandOutput, type SucceededCommand } from './tools/handlers';
import type { CommandKind } from '../common/protocol';

/** Turns the finished device commands of one tool call into its recorded output and a summary for the workflow. */
export function makeRecordToolResult(deps: ActivityDeps) {
  const { prisma, logger } = deps;
  return async function recordToolResult(input: { invocationId: string; commandIds: string[]; skippedDevices?: number; cancelledDevices?: number }): Promise<ToolOutcome> {
    const inv = await prisma.toolInvocation.findUnique({ where: { id: input.invocationId } });
    const commands = await prisma.deviceCommand.findMany({ where: { id: { in: input.commandIds } }, include: { device: true } });
    if (!inv || !isToolName(inv.toolName) || commands.length !== input.commandIds.length || (commands.length === 0 && !input.skippedDevices && !input.cancelledDevices)) {
      throw ApplicationFailure.nonRetryable('tool invocation or command not found', FailureType.NotFound);
    }
    await assertSession(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, 'recordToolResult');
    const succeeded: SucceededCommand[] = [];
    const perDevice = commands.map((cmd) => {
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
