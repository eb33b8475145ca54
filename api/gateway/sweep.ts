/**
 * The gateway's periodic sweep: commands past their time end (pending ones expire, delivered ones time out once
 * the agent has had its whole dispatch timeout), the paused orgs' unsent commands end, outcomes not yet reported
 * are reported again, and lost deliveries are retried.
 */
import { CommandOutcome } from '../../common/session';
import { audit } from '../../audit/log';
import { endPausedCommands } from '../../lib/device-commands';
import { sweptCommands, type ApiDeps } from '../deps';
import { dispatchTimeoutSeconds, type Delivery } from './delivery';
import { REPORTABLE, type Results } from './results';

/** How long after a command's dispatch timeout its result may still be on its way (the agent's kill grace, the link). */
const RESULT_MARGIN_SECONDS = 30;

export function createSweep(deps: ApiDeps, delivery: Delivery, results: Results): () => Promise<void> {
  const { prisma } = deps;

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
      where: { status: { in: CommandOutcome.options }, reportedAt: null, ...sweptCommands(deps) },
      select: REPORTABLE,
      take: 200,
    });
    for (const cmd of unreported) results.report(cmd);
    await delivery.redeliverStale();
  };
}
