/**
 * How close a workflow comes to Temporal's limits, read from its recorded history (every run of a chain that
 * continues as new): the largest payload (each `Payloads` an event carries, as stored: encrypted by the codec),
 * and each run's event count and encoded size. Temporal warns at 256 KB per payload and fails at 2 MB; a run's
 * history warns at 10,240 events or 10 MB and fails at 51,200 events or 50 MB.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const LIMITS = { payloadWarnBytes: 256 * 1024, payloadFailBytes: 2 * 1024 * 1024, historyWarnEvents: 10_240, historyWarnBytes: 10 * 1024 * 1024, historyFailEvents: 51_200, historyFailBytes: 50 * 1024 * 1024 };

export interface RunSize {
  runId: string;
  events: number;
  historyBytes: number;
  largestPayloadBytes: number;
  /** Where the largest payload is: the event's type. */
  largestPayloadIn: string;
}

/** The encoded size of every `Payloads` (a message with `payloads: Payload[]`) anywhere in `value`. */
function payloadSizes(value: unknown, out: number[]): void {
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const v of value) payloadSizes(v, out);
    return;
  }
  const payloads = (value as { payloads?: unknown }).payloads;
  if (Array.isArray(payloads)) {
    out.push(temporal.api.common.v1.Payloads.encode({ payloads: payloads as temporal.api.common.v1.IPayload[] }).finish().length);
    return;
  }
  for (const v of Object.values(value)) payloadSizes(v, out);
}

/** Every run of `workflowId`, from the first (`firstRunId`, or the first the server knows) to the last. */
export async function historySizes(client: Client, workflowId: string, firstRunId?: string): Promise<RunSize[]> {
  const runs: RunSize[] = [];
  let runId = firstRunId ?? (await client.workflow.getHandle(workflowId).describe()).runId;
  if (!firstRunId) {
    // The latest run: walk back through the runs it continued from to the first.
    for (;;) {
      const first = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events?.[0];
      const previous = first?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      if (!previous) break;
      runId = previous;
    }
  }
  for (;;) {
    const events: temporal.api.history.v1.IHistoryEvent[] = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    let largest = 0;
    let where = '';
    let bytes = 0;
    for (const e of events) {
      bytes += temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
      const sizes: number[] = [];
      payloadSizes(e, sizes);
      const max = Math.max(0, ...sizes);
      if (max > largest) [largest, where] = [max, temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType)];
    }
    runs.push({ runId, events: events.length, historyBytes: bytes, largestPayloadBytes: largest, largestPayloadIn: where });
    const next = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) break;
    runId = next;
  }
  return runs;
}

/** What went past a limit, in words; empty when nothing did. Past the payload warning counts: that is the goal. */
export function overLimits(name: string, runs: RunSize[]): string[] {
  const problems: string[] = [];
  for (const r of runs) {
    if (r.largestPayloadBytes > LIMITS.payloadWarnBytes) problems.push(`${name} run ${r.runId}: a payload of ${r.largestPayloadBytes} bytes (${r.largestPayloadIn}) is past Temporal's 256 KB warning`);
    if (r.events > LIMITS.historyWarnEvents || r.historyBytes > LIMITS.historyWarnBytes) problems.push(`${name} run ${r.runId}: ${r.events} events, ${r.historyBytes} bytes: past Temporal's history warning (10,240 events or 10 MB)`);
  }
  return problems;
}
