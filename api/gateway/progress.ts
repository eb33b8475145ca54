/**
 * Remediations report their progress to the session's watchers (console, CLI) as device results arrive: one count
 * at most every 500 ms per remediation, the last one shortly after the last result, off the result path. The count
 * is read from the commands' rows and counted as the workflow counts it (common/remediation-progress.ts): a canary's
 * read-back and undo are commands of the invocation but no devices of the count.
 */
import { countOutcome, type RemediationCounts } from '../../common/remediation-progress';
import { CommandOutcome } from '../../common/session';
import { CANARY_STEP_MARK } from '../../common/ids';
import { publishSessionEvent } from '../../lib/session-events';
import type { ApiDeps } from '../deps';
import type { InvocationLookup } from './invocations';

const PROGRESS_EVERY_MS = 500;

export interface ProgressPublisher {
  /** A device of this invocation finished: its remediation's count goes out soon (nothing when it is no remediation). */
  schedule(invocationId: string): void;
  close(): void;
}

export function createProgressPublisher(deps: ApiDeps, invocationOf: InvocationLookup): ProgressPublisher {
  const { prisma, logger } = deps;
  const due = new Map<string, NodeJS.Timeout>();
  const lastAt = new Map<string, number>();
  const inFlight = new Map<string, Promise<void>>();

  const publish = async (invocationId: string): Promise<void> => {
    const r = (await invocationOf(invocationId)).remediation;
    if (!r) return;
    const rows = await prisma.deviceCommand.groupBy({ by: ['status'], where: { invocationId, status: { in: CommandOutcome.options }, NOT: { id: { contains: CANARY_STEP_MARK } } }, _count: true });
    const progress: RemediationCounts = { total: r.total, succeeded: 0, failed: 0 };
    for (const row of rows) countOutcome(progress, row.status as CommandOutcome, row._count);
    await publishSessionEvent(prisma, {
      sessionId: r.sessionId,
      turnId: r.turnId,
      type: 'remediation:progress',
      tool: r.tool,
      invocationId,
      progress,
      text: `${progress.succeeded + progress.failed} of ${r.total} devices done: ${progress.succeeded} succeeded, ${progress.failed} failed`,
    });
  };

  return {
    schedule(invocationId) {
      if (due.has(invocationId)) return;
      const wait = Math.max(0, PROGRESS_EVERY_MS - (Date.now() - (lastAt.get(invocationId) ?? 0)));
      const timer = setTimeout(() => {
        due.delete(invocationId);
        if (lastAt.size > 10_000) lastAt.clear();
        lastAt.set(invocationId, Date.now());
        // One count in flight per remediation: a slow count finishing after a later one would go backwards.
        const previous = inFlight.get(invocationId) ?? Promise.resolve();
        const next = previous
          .then(() => publish(invocationId))
          .catch((err: unknown) => logger.warn({ invocationId, err: (err as Error).message }, 'remediation progress not published'))
          .finally(() => {
            if (inFlight.get(invocationId) === next) inFlight.delete(invocationId);
          });
        inFlight.set(invocationId, next);
      }, wait);
      timer.unref();
      due.set(invocationId, timer);
    },
    close() {
      for (const timer of due.values()) clearTimeout(timer);
    },
  };
}
