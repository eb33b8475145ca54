/**
 * What workflows tell the worker process without a side effect of their own: Temporal sinks, which the worker
 * calls after the activation and never while replaying a history, so a count never repeats on a replay and no
 * call enters the history (worker/create-worker.ts implements them).
 */
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { Sinks } from '@temporalio/workflow';

export type TurnOutcome = 'answered' | 'refused' | 'failed';

/** `exporter` takes the workflow spans the trace interceptors make (worker/workflow-interceptors.ts). */
export interface GatehouseSinks extends Sinks, OpenTelemetrySinks {
  metrics: {
    /** A turn ended: counted by outcome in the worker's metrics. */
    turnEnded(outcome: TurnOutcome): void;
  };
  sessionEvents: {
    /**
     * A turn ended, told to the session's watchers (`turn:ended`) once the workflow's state says so: a read of the
     * turn that follows the event sees it ended. A hint, not a record: a watcher that misses it reads at its next poll.
     */
    turnEnded(event: { sessionId: string; turnId: string; status: TurnOutcome }): void;
  };
}
