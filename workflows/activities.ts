/**
 * Activity options of the copilot workflows, declared once. Retries are bounded; failures a retry cannot fix
 * (types from common/failures) are not retried.
 */
import { proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_FAILURES } from '../common/failures';

const retry: RetryPolicy = { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURES };

export const db = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry });

// Short, idempotent database work the workflow waits for: run by the worker inside the workflow task that asks for
// it, with no round trip through an activity task queue; the history records each result in a marker.
export const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry });

// The model call heartbeats while it waits, so a worker that dies mid-call is noticed in seconds, not minutes.
export const model = proxyActivities<Activities>({ startToCloseTimeout: '3m', heartbeatTimeout: '15s', retry });

// Completed asynchronously by the api when the agent's result arrives (or the command's TTL passes), so the
// wait survives worker restarts. The api heartbeats every waiting command by task token (api/gateway/agents.ts);
// an attempt whose worker died before it queued the command misses them and is retried (idempotent by command id)
// within the heartbeat timeout. The start-to-close timeout is a backstop above the command's own TTL.
export const device = proxyActivities<Activities>({ startToCloseTimeout: '20m', heartbeatTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } });
