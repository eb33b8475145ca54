import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import type { ToolOutcome } from '../common/session';
import { isToolName } from '../common/tools';
import { publishSessionEvent } from '../lib/session-events';
import type { ActivityDeps } from './deps';
import { renderForModel } from './tool-output';
import { audit } from '../lib/audit';
import { SAFE_ERRORS } from '../cage/error-sanitizer';
import { summarizeCommandOutput } from './tools/handlers';
import type { CommandKind } from '../common/protocol';

/** Fixed texts for the error codes agents report (the sanitizer's allowlist); an agent's own error text never
 * reaches the model. */
export const DEVICE_ERRORS: Record<string, string> = SAFE_ERRORS;

/** Turns the finished device commands of one tool call into its recorded output and a summary for the workflow. */
export function makeRecordToolResult({ prisma, logger }: ActivityDeps) {
  return async function recordToolResult(input: { invocationId: string; commandIds: string[]; skippedDevices?: number }): Promise<ToolOutcome> {
    const inv = await prisma.toolInvocation.findUnique({ where: { id: input.invocationId } });
    const commands = await prisma.deviceCommand.findMany({ where: { id: { in: input.commandIds } }, include: { device: true } });
    if (!inv || !isToolName(inv.toolName) || commands.length !== input.commandIds.length || (commands.length === 0 && !input.skippedDevices)) {
      throw ApplicationFailure.nonRetryable('tool invocation or command not found', FailureType.NotFound);
    }
    const perDevice = commands.map((cmd) => {
      if (cmd.status === 'succeeded') {
        try {
          const result = summarizeCommandOutput(cmd.kind as CommandKind, cmd.result);
          return { device: cmd.device.name, commandId: cmd.id, ok: true, summary: result.summary, output: result.output };
        } catch (err) {
          logger.warn({ commandId: cmd.id, err: (err as Error).message }, 'device output did not match its schema');
          return { device: cmd.device.name, commandId: cmd.id, ok: false, summary: 'the device returned output in an unexpected format' };
        }
      }
      const code = cmd.status === 'expired' ? 'DEVICE_OFFLINE' : (cmd.errorCode ?? 'EXECUTION_FAILED');
      return { device: cmd.device.name, commandId: cmd.id, ok: false, summary: DEVICE_ERRORS[code] ?? DEVICE_ERRORS.EXECUTION_FAILED! };
    });
    const okCount = perDevice.filter((d) => d.ok).length;
    const skipped = input.skippedDevices ?? 0;
    const status = okCount > 0 ? 'succeeded' : 'failed';
    const failedFirst = [...perDevice].sort((a, b) => Number(a.ok) - Number(b.ok));
    const summary =
      perDevice.length === 1 && skipped === 0
        ? `${perDevice[0]!.device}: ${perDevice[0]!.summary}`
        : `${okCount} of ${perDevice.length + skipped} devices succeeded` +
          (skipped ? `, ${skipped} not started after the failure threshold` : '') +
          `; ${failedFirst.slice(0, 3).map((d) => `${d.device}: ${d.summary}`).join('; ')}`;
    const output = perDevice.length === 1 && perDevice[0]!.ok && skipped === 0 ? perDevice[0]!.output : { devices: perDevice, skipped };
    const rendered = renderForModel(output, `tool:${inv.toolName}`);
    await prisma.toolInvocation.update({
      where: { id: inv.id },
      data: { status, summary: summary.slice(0, 1000), output: rendered.text, commandId: commands[0]?.id ?? null, completedAt: new Date() },
    });
    if (rendered.flagged) {
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, action: 'injection.flagged_output', target: inv.toolName, data: { invocationId: inv.id, categories: rendered.categories } });
    }
    await publishSessionEvent(prisma, { sessionId: inv.sessionId, turnId: inv.turnId, type: 'tool:completed', tool: inv.toolName, status, text: summary });
    return { invocationId: inv.id, status, summary: summary.slice(0, 500), ...(rendered.flagged ? { flagged: true } : {}) };
  };
}
