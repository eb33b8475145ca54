/**
 * Activity options of the copilot workflows, declared once. Retries are bounded; failures a retry cannot fix
 * (types from common/failures) are not retried.
 */
import { proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_FAILURES } from '../common/failures';
import { Patch } from './patches';
import { isPatched } from './run-patches';

const retry: RetryPolicy = { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURES };

export const db = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry });

/**
 * Runs a workflow's local activities one at a time, in the order the workflow asks for them, in runs started since
 * `Patch.SerialLocalActivities`.
 *
 * Why: a local activity's result is recorded as a marker in the order it completed, and a worker replaying the
 * history (after a restart, an eviction, or a query on a run it no longer holds) resolves two local activities that
 * were in flight together in another order than they had completed. Code that goes on differently depending on which
 * finished first (a remediation's batch being queued while the results of an earlier one are read) then asks for its
 * next local activities in another order, and the replay fails: `[TMPRL1100] Nondeterminism error: Missing associated
 * machine for LocalActivity(n)`, the run stuck until someone terminates it. Seen under load, when a local activity
 * outlasts a workflow task (workflows/local-activity-order.test.ts drives it). With one in flight at a time, there is
 * no order to get wrong. Activity tasks (`db`, `model`) need nothing of the kind: their completions are events of the
 * history, replayed in the order they happened.
 *
 * Module state is the run's own: the worker loads workflow modules once per run (a reused V8 context gives each run
 * its own module cache). Whether the run serializes is decided at its first local activity, at the same point when it
 * is replayed; histories from before the patch replay as they ran.
 */
function oneAtATime<T extends object>(activities: T): T {
  let serial: boolean | undefined;
  let last: Promise<unknown> = Promise.resolve();
  return new Proxy(activities, {
    get(target, name, receiver) {
      const run: unknown = Reflect.get(target, name, receiver);
      if (typeof run !== 'function') return run;
      return (...args: unknown[]) => {
        serial ??= isPatched(Patch.SerialLocalActivities);
        if (!serial) return run(...args);
        const next = last.then(() => run(...args));
        // The next one waits for this one to end, whichever way it ends; the caller sees its own failure.
        last = next.catch(() => undefined);
        return next;
      };
    },
  });
}

// Short, idempotent database work the workflow waits for: run by the worker inside the workflow task that asks for
// it, with no round trip through an activity task queue; the history records each result in a marker.
export const local = oneAtATime(proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry }));

// The model call heartbeats while it waits, so a worker that dies mid-call is noticed in seconds, not minutes.
export const model = proxyActivities<Activities>({ startToCloseTimeout: '3m', heartbeatTimeout: '15s', retry });

// An upstream MCP server's tool call: its own timeout (the server's answer, up to UPSTREAM_CALL_TIMEOUT_MS), and
// retried only up to the call itself (the activity never sends the same call twice).
export const upstream = proxyActivities<Activities>({ startToCloseTimeout: '3m', retry: { ...retry, maximumAttempts: 3 } });

// Only for the frozen branches (workflows/frozen/) that waited for one device's command inside an activity. Such an
// attempt left waiting across the upgrade to one command path times out on its heartbeat and is retried by the
// activity of that name, which queues the command like any other and polls its row, heartbeating.
export const device = proxyActivities<Activities>({ startToCloseTimeout: '20m', heartbeatTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } });

/**
 * Where a turn's short checks and records run: local activities since `Patch.LocalTurnSteps` (every check is the same
 * activity code, run before the workflow goes on, failing closed as before), activity tasks in histories from before.
 */
export function steps(): typeof db {
  return isPatched(Patch.LocalTurnSteps) ? local : db;
}
