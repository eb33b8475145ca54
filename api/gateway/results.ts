/**
 * `command:result`: a result is recorded only from the device the command was sent to, and only once; then the
 * workflow its row names is told by signal (./result-signals.ts) and, for a remediation, its progress is counted
 * again. A result the database did not take is answered so the agent keeps it and sends it again.
 */
import { CommandResult, type CommandResultAck } from '../../common/protocol';
import { isCommandOutcome } from '../../common/session';
import { audit } from '../../audit/log';
import { recordResult, type Reportable } from '../../lib/device-commands';
import { contextOf, inSpan, SpanKind } from '../../lib/tracing';
import type { ApiDeps } from '../deps';
import type { AgentConnections, AgentSocket } from './agent-sockets';
import type { ProgressPublisher } from './progress';
import { createResultSignaller } from './result-signals';

/** What telling the waiting workflow of a command's result needs to know (`Reportable`), read through Prisma. */
export const REPORTABLE = { id: true, deviceId: true, status: true, reportTo: true, reportedAt: true, invocationId: true } as const;

export interface Results {
  /** Records a result frame and answers it. */
  onResult(socket: AgentSocket, raw: unknown, reply: (res: CommandResultAck) => void): Promise<void>;
  /** Tells the waiting workflow of a recorded outcome, once. */
  report(cmd: Reportable): void;
}

export function createResults(deps: ApiDeps, connections: AgentConnections, progress: ProgressPublisher): Results {
  const { prisma } = deps;
  const signaller = createResultSignaller(deps);

  const report: Results['report'] = (cmd) => {
    if (!cmd.reportedAt && isCommandOutcome(cmd.status)) signaller.report(cmd.reportTo, cmd.id, cmd.status);
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
      // In the trace of the agent's execution, so telling the workflow (its signal) continues it too.
      await inSpan('command:result', { parent: contextOf(msg.trace?.traceparent), kind: SpanKind.CONSUMER, attributes: { 'gatehouse.command.id': msg.commandId, 'gatehouse.command.ok': msg.ok } }, () =>
        recordAndReport(socket, msg, reply),
      );
    },
  };

  async function recordAndReport(socket: AgentSocket, msg: CommandResult, reply: (res: CommandResultAck) => void): Promise<void> {
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
    if (recorded) deps.metrics.commandDuration.observe({ kind: recorded.kind, outcome: recorded.status }, recorded.seconds);
    reply({ accepted: true });
    if (!msg.ok && (msg.error?.code === 'APPROVAL_MISSING' || msg.error?.code === 'BAD_SIGNATURE')) {
      // The agent's own wall held: a command reached it that it would not run. Someone should look at why.
      await audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: socket.data.deviceId, action: 'security.command_refused_by_agent', target: msg.commandId, data: { code: msg.error.code } });
    }
    // The row just written (or, for a result already recorded, read again: it may not have been reported yet).
    report(cmd);
    if (recorded?.invocationId) progress.schedule(recorded.invocationId);
  }
}
