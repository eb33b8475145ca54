/**
 * How a remediation's devices are counted, in one place for everyone who counts them: the workflow (its
 * `remediationProgress` query), the gateway (the `remediation:progress` events pushed to the console) and the
 * api's GET /v1/remediations/:id.
 */
import { z } from 'zod';
import type { CommandOutcome } from './session';

/** Devices of a remediation finished so far, by outcome, of `total`. */
export const RemediationCounts = z.object({ total: z.number().int(), succeeded: z.number().int(), failed: z.number().int() });
export type RemediationCounts = z.infer<typeof RemediationCounts>;

/**
 * Adds `n` devices whose command ended with `status`. An expired command (its device never took it before its TTL)
 * counts as failed: the device was not fixed, and the failure threshold counts it (the device itself still shows
 * `expired`).
 */
export function countOutcome(counts: Pick<RemediationCounts, 'succeeded' | 'failed'>, status: CommandOutcome, n = 1): void {
  if (status === 'succeeded') counts.succeeded += n;
  else counts.failed += n;
}

/** Share of the devices done (finished, skipped or cancelled), in whole percent; an empty remediation is done. */
export function percentDone(p: RemediationCounts & { skipped?: number; cancelled?: number }): number {
  const done = p.succeeded + p.failed + (p.skipped ?? 0) + (p.cancelled ?? 0);
  return p.total ? Math.round((done / p.total) * 100) : 100;
}
