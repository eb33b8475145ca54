/**
 * `readRemediationDevices`: one page of a remediation's devices, as authorization recorded them on the invocation
 * (the list the approval's digest binds, and the one the command authority checks every command against). The
 * remediation reads its devices here, a page per run, so that no workflow payload carries the list; nothing a
 * workflow sends can add a device to it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { FailureType } from '../common/failures';
import type { ActivityDeps } from './deps';

export const ReadRemediationDevicesInput = z.object({
  orgId: z.string().uuid(),
  invocationId: z.string().min(1).max(300),
  offset: z.number().int().min(0),
  limit: z.number().int().min(1).max(5000),
});
export type ReadRemediationDevicesInput = z.infer<typeof ReadRemediationDevicesInput>;

export function makeReadRemediationDevices({ pool }: ActivityDeps) {
  return async function readRemediationDevices(raw: ReadRemediationDevicesInput): Promise<{ devices: string[]; total: number }> {
    const parsed = ReadRemediationDevicesInput.safeParse(raw);
    if (!parsed.success) throw ApplicationFailure.nonRetryable(`readRemediationDevices: ${parsed.error.issues[0]?.message ?? 'invalid input'}`, FailureType.InvalidInput);
    const input = parsed.data;
    // The slice is cut in PostgreSQL: a page of 1,000 ids crosses the wire, not the whole list each time.
    const { rows } = await pool.query<{ total: number; devices: string[] | null }>({
      name: 'remediation-devices.page',
      text: `SELECT jsonb_array_length("execution"->'devices') AS "total",
                    (SELECT jsonb_agg(d ORDER BY i) FROM jsonb_array_elements_text("execution"->'devices') WITH ORDINALITY AS t(d, i) WHERE i > $3 AND i <= $3 + $4) AS "devices"
             FROM "ToolInvocation"
             WHERE "id" = $1 AND "orgId" = $2::uuid AND "decision" IN ('allow', 'approve') AND "execution"->>'type' = 'remediation'`,
      values: [input.invocationId, input.orgId, input.offset, input.limit],
    });
    const row = rows[0];
    // Fail closed: no authorized remediation of this org under this id means no device to start.
    if (!row) throw ApplicationFailure.nonRetryable('no authorized remediation with this id in this organization; no device was started', FailureType.NotFound);
    return { devices: row.devices ?? [], total: row.total };
  };
}
