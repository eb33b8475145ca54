/**
 * `command:result`: a result is recorded only from the device the command was sent to, and only once; then the
 * workflow waiting for it is told (a remediation by a batched signal, a single command's activity by its task
 * token) and, for a remediation, its progress is counted again. A result the database did not take is answered so
 * the agent keeps it and sends it again.
 */
import { ActivityNotFoundError } from '@temporalio/client';
import { CommandResult, type CommandResultAck } from '../../common/protocol';
import { isCommandOutcome } from '../../common/session';
import { audit } from '../../audit/log';
import { recordResult, type Reportable } from '../../lib/device-commands';
import type { ApiDeps } from '../deps';
import type { AgentConnections, AgentSocket } from './agent-sockets';
import type { ProgressPublisher } from './progress';
import { createResultSignaller } from './remediation-results';

/** What telling the waiting workflow of a command's result needs to know (`Reportable`), read through Prisma. */
export const REPORTABLE = { id: true, deviceId: true, status: true, reportTo: true, reportedAt: true, invocationId: true } as const;

export interface Results {
  /** Records a result frame and answers it. */
  onResult(socket: AgentSocket, raw: unknown, reply: (res: CommandResultAck) => void): Promise<void>;
  /** Tells the waiting workflow of a recorded outcome, once. */
  report(cmd: Reportable & { taskToken?: Uint8Array | null }): Promise<void>;
}

export function createResults(deps: ApiDeps, connections: AgentConnections, progress: ProgressPublisher): Results {
  const { prisma, logger } = deps;
  const signaller = createResultSignaller(deps);

  const completeActivity = async (cmd: Reportable & { taskToken?: Uint8Array | null }) => {
    const commandId = cmd.id;
    const taskToken = cmd.taskToken ?? (await prisma.deviceCommand.findUnique({ where: { id: commandId }, select: { taskToken: true } }))?.taskToken;
    if (!taskToken) return;
    try {
      await deps.temporal.activity.complete(new Uint8Array(taskToken), { commandId, status: cmd.status });
    } catch (err) {
      // Gone means the attempt timed out; its retry stores a new token and finds the stored result.
      if (!(err instanceof ActivityNotFoundError)) {
        logger.warn({ commandId, err: (err as Error).message }, 'could not complete the activity yet; the sweep retries');
        return;
      }
    }
    await prisma.deviceCommand.update({ where: { id: cmd.id }, data: { reportedAt: new Date() } });
  };

  const report: Results['report'] = async (cmd) => {
    if (cmd.reportedAt || !isCommandOutcome(cmd.status)) return;
    if (cmd.reportTo) signaller.report(cmd.reportTo, cmd.id, cmd.status);
    else await completeActivity(cmd);
  };

  return {
    report,
    async onResult(socket, raw, reply) {
      const parsed = CommandResult.safeParse(raw);
      if (!parsed.success) {
        connections.drop(socket, 'command:result', parsed.error.issues[0]?.message ?? 'invalid');
        return reply({ accepted: false, reason: 'invalid frame' });
      }
      const msg = parsed.data;
      // Recorded only for the device the command was sent to, and only once.
      const recorded = await recordResult(deps.pool, {
        commandId: msg.commandId,
        deviceId: socket.data.deviceId,
        status: msg.ok ? 'succeeded' : 'failed',
        output: msg.ok && msg.output !== undefined ? JSON.stringify(msg.output) : null,
        errorCode: msg.ok ? null : (msg.error?.code ?? 'EXECUTION_FAILED'),
        startedAt: msg.startedAt,
        finishedAt: msg.finishedAt,
      });
      const cmd = recorded ?? (await prisma.deviceCommand.findUnique({ where: { id: msg.commandId }, select: REPORTABLE }));
      if (!cmd || cmd.deviceId !== socket.data.deviceId) {
        // Another device's command answers exactly as an unknown one (no oracle), and is flagged: a compromised or
        // cloned agent trying to complete commands it was never sent.
        if (cmd) {
          await audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: socket.data.deviceId, action: 'security.result_from_wrong_device', target: msg.commandId });
        }
        return reply({ accepted: false, reason: 'unknown command' });
      }
      connections.counters.resultsAccepted += 1;
      reply({ accepted: true });
      if (!msg.ok && (msg.error?.code === 'APPROVAL_MISSING' || msg.error?.code === 'BAD_SIGNATURE')) {
        // The agent's own wall held: a command reached it that it would not run. Someone should look at why.
        await audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: socket.data.deviceId, action: 'security.command_refused_by_agent', target: msg.commandId, data: { code: msg.error.code } });
      }
      // The row just written (or, for a result already recorded, read again: it may not have been reported yet).
      await report(cmd);
      if (recorded?.invocationId) progress.schedule(recorded.invocationId);
    },
  };
}
