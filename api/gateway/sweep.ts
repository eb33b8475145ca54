/**
 * The gateway's periodic sweep: commands past their time end (pending ones expire, delivered ones time out once
 * the agent has had its whole dispatch timeout), the paused orgs' unsent commands end, outcomes not yet reported
 * are reported again, the activities waiting on commands are heartbeaten, and lost deliveries are retried.
 */
import { CommandOutcome, UNFINISHED_COMMAND } from '../../common/session';
import { audit } from '../../audit/log';
import { endPausedCommands } from '../../lib/device-commands';
import { sweptCommands, type ApiDeps } from '../deps';
import { dispatchTimeoutSeconds, type Delivery } from './delivery';
import { REPORTABLE, type Results } from './results';

/** How long after a command's dispatch timeout its result may still be on its way (the agent's kill grace, the link). */
const RESULT_MARGIN_SECONDS = 30;
const HEARTBEAT_EVERY_MS = 10_000;

export function createSweep(deps: ApiDeps, delivery: Delivery, results: Results): () => Promise<void> {
  const { prisma } = deps;

  // The activities waiting on commands complete asynchronously, so nothing in the worker heartbeats them: the api
  // does, by task token. An activity whose worker died before it queued its command gets no heartbeat, times out
  // (heartbeat timeout in workflows/activities.ts) and is retried at once instead of after its 20-minute limit.
  const lastHeartbeat = new Map<string, number>();
  async function heartbeatWaiting(now: Date): Promise<void> {
    const waiting = await prisma.deviceCommand.findMany({
      where: { status: { in: UNFINISHED_COMMAND }, reportedAt: null, taskToken: { not: null }, ...sweptCommands(deps) },
      select: { id: true, taskToken: true },
      take: 1000,
    });
    const live = new Set(waiting.map((c) => c.id));
    for (const id of lastHeartbeat.keys()) if (!live.has(id)) lastHeartbeat.delete(id);
    for (const cmd of waiting) {
      if (now.getTime() - (lastHeartbeat.get(cmd.id) ?? 0) < HEARTBEAT_EVERY_MS) continue;
      lastHeartbeat.set(cmd.id, now.getTime());
      // A dead token (the attempt already timed out and was retried) is expected: the new attempt stores its own.
      await deps.temporal.activity.heartbeat(new Uint8Array(cmd.taskToken!)).catch(() => undefined);
    }
  }

  async function endOverdue(now: Date): Promise<void> {
    await prisma.deviceCommand.updateMany({
      where: { status: 'pending', expiresAt: { lte: now } },
      data: { status: 'expired', errorCode: 'DEVICE_OFFLINE', completedAt: now },
    });
    // A delivered command times out once its TTL has passed and the agent has had its whole dispatch timeout
    // (and a margin for the result) since delivery: before that it may still be running, and calling it TIMEOUT
    // would tell the session it stopped while it runs on (and drop the result it then sends).
    const overdue = await prisma.deviceCommand.findMany({
      where: { status: 'delivered', expiresAt: { lte: now } },
      select: { id: true, kind: true, params: true, deliveredAt: true },
      orderBy: { expiresAt: 'asc' },
      take: 1000,
    });
    const timedOut = overdue
      .filter((c) => !c.deliveredAt || now.getTime() >= c.deliveredAt.getTime() + (dispatchTimeoutSeconds(deps, c.kind, c.params) + RESULT_MARGIN_SECONDS) * 1000)
      .map((c) => c.id);
    if (timedOut.length) {
      await prisma.deviceCommand.updateMany({ where: { id: { in: timedOut }, status: 'delivered' }, data: { status: 'failed', errorCode: 'TIMEOUT', completedAt: now } });
    }
  }

  /** The pause ends its org's unsent commands at once (api/routes/orgs.ts); this catches one queued while the pause was committing. */
  async function endPaused(): Promise<void> {
    const stopped = await endPausedCommands(deps.pool);
    for (const orgId of new Set(stopped.map((c) => c.orgId))) {
      const ids = stopped.filter((c) => c.orgId === orgId).map((c) => c.id);
      await audit(prisma, { orgId, actorType: 'system', action: 'command.denied', target: `${ids.length} commands`, data: { rule: 'paused', commandIds: ids.slice(0, 100) } });
    }
  }

  return async function sweep() {
    const now = new Date();
    await endOverdue(now);
    await endPaused();
    // Every outcome above, and any whose report did not get through, is reported like any other.
    const unreported = await prisma.deviceCommand.findMany({
      where: { status: { in: CommandOutcome.options }, reportedAt: null, OR: [{ taskToken: { not: null } }, { reportTo: { not: null } }], ...sweptCommands(deps) },
      select: { ...REPORTABLE, taskToken: true },
      take: 200,
    });
    for (const cmd of unreported) await results.report(cmd);
    await heartbeatWaiting(now);
    await delivery.redeliverStale();
  };
}
