/**
 * Activity options of the copilot workflows, declared once. Retries are bounded; failures a retry cannot fix
 * (types from common/failures) are not retried.
 */
import { patched, proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_FAILURES } from '../common/failures';
import { Patch } from './patches';

const retry: RetryPolicy = { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURES };

export const db = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry });

// Short, idempotent database work the workflow waits for: run by the worker inside the workflow task that asks for
// it, with no round trip through an activity task queue; the history records each result in a marker.
export const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry });

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
  return patched(Patch.LocalTurnSteps) ? local : db;
}
