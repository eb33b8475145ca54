import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import type { ToolOutcome } from '../common/session';
import { isToolName } from '../common/tools';
import { publishSessionEvent } from '../lib/session-events';
import type { ActivityDeps } from './deps';
import { renderToolOutput } from './tool-output';
import { TOOL_HANDLERS } from './tools/handlers';

/** Fixed texts for the error codes agents report; agents' own error text never reaches the model. */
const DEVICE_ERRORS: Record<string, string> = {
  DEVICE_OFFLINE: 'device offline: the command expired before the device connected',
  TIMEOUT: 'timed out on the device',
  UNSUPPORTED: 'the device cannot run this command',
  EXECUTION_FAILED: 'the command failed on the device',
  INVALID_COMMAND: 'the device refused the command as invalid',
};

/** Turns a finished device command into the tool's recorded output and a one-line summary for the workflow. */
export function makeRecordToolResult({ prisma, logger }: ActivityDeps) {
  return async function recordToolResult(input: { invocationId: string; commandId: string }): Promise<ToolOutcome> {
    const [inv, cmd] = await Promise.all([
      prisma.toolInvocation.findUnique({ where: { id: input.invocationId } }),
      prisma.deviceCommand.findUnique({ where: { id: input.commandId }, include: { device: true } }),
    ]);
    if (!inv || !cmd || !isToolName(inv.toolName)) {
      throw ApplicationFailure.nonRetryable('tool invocation or command not found', FailureType.NotFound);
    }
    const handler = TOOL_HANDLERS[inv.toolName];
    let status: 'succeeded' | 'failed' = 'failed';
    let summary: string;
    let output: string;
    if (cmd.status === 'succeeded' && handler.type === 'device') {
      try {
        const result = handler.summarize(cmd.result, cmd.device.name);
        status = 'succeeded';
        summary = result.summary;
        output = renderToolOutput(result.output);
      } catch (err) {
        logger.warn({ commandId: cmd.id, err: (err as Error).message }, 'device output did not match its schema');
        summary = `${cmd.device.name}: the device returned output in an unexpected format`;
        output = summary;
      }
    } else {
      const code = cmd.status === 'expired' ? 'DEVICE_OFFLINE' : (cmd.errorCode ?? 'EXECUTION_FAILED');
      summary = `${cmd.device.name}: ${DEVICE_ERRORS[code] ?? DEVICE_ERRORS.EXECUTION_FAILED}`;
      output = summary;
    }
    await prisma.toolInvocation.update({
      where: { id: inv.id },
      data: { status, summary, output, commandId: cmd.id, completedAt: new Date() },
    });
    await publishSessionEvent(prisma, { sessionId: inv.sessionId, turnId: inv.turnId, type: 'tool:completed', tool: inv.toolName, status, text: summary });
    return { invocationId: inv.id, status, summary };
  };
}
