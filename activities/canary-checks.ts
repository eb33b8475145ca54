/**
 * `readCanaryChecks`: how a remediation's canary devices did, judged from their commands' rows (written only by the
 * gateway, from each device's own result): the action must have succeeded, and its read-back (when the action
 * declares one) must show what the action was meant to do (a started service running, a check script exiting 0).
 * The workflow is told pass or fail and why, per device, in words a person reads on the remediation's page.
 */
import { canaryCommandId, deviceCommandId } from '../common/ids';
import type { CanaryExpectation } from '../common/tools';
import type { ActivityDeps } from './deps';

export interface ReadCanaryChecksInput {
  orgId: string;
  /** The remediation asking: only rows that name it count. */
  reportTo: string;
  invocationId: string;
  devices: string[];
  /** The read-back's expectation, when the action declares one; without, the action's own outcome decides. */
  expect?: CanaryExpectation;
}

export interface CanaryCheck {
  deviceId: string;
  passed: boolean;
  reason?: string;
}

/** What a read-back's result says, against what it should say; undefined when it passes. */
export function readBackProblem(expect: CanaryExpectation, result: unknown): string | undefined {
  const r = (result ?? {}) as Record<string, unknown>;
  if ('service' in expect) {
    const status = typeof r.status === 'string' ? r.status : 'unknown';
    return status.toLowerCase() === expect.status.toLowerCase() ? undefined : `service ${expect.service} is ${status.toLowerCase()} after the action, not ${expect.status.toLowerCase()}`;
  }
  return r.exitCode === 0 ? undefined : `the check script exited with ${typeof r.exitCode === 'number' ? r.exitCode : 'no exit code'}`;
}

export function makeReadCanaryChecks({ pool }: ActivityDeps) {
  return async function readCanaryChecks(input: ReadCanaryChecksInput): Promise<{ checks: CanaryCheck[] }> {
    const ids = input.devices.flatMap((d) => [deviceCommandId(input.invocationId, d), canaryCommandId(input.invocationId, 'check', d)]);
    const { rows } = await pool.query<{ id: string; status: string; result: unknown; errorCode: string | null }>({
      name: 'device-commands.read-canary',
      text: `SELECT "id", "status", "result", "errorCode" FROM "DeviceCommand" WHERE "id" = ANY($1::text[]) AND "orgId" = $2::uuid AND "reportTo" = $3`,
      values: [ids, input.orgId, input.reportTo],
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const checks = input.devices.map((deviceId): CanaryCheck => {
      const run = byId.get(deviceCommandId(input.invocationId, deviceId));
      if (run?.status !== 'succeeded') return { deviceId, passed: false, reason: `the action ${run ? run.status : 'never ran'}${run?.errorCode ? ` (${run.errorCode})` : ''}` };
      if (!input.expect) return { deviceId, passed: true };
      // Fail closed: a read-back that is missing or did not succeed is a failed canary.
      const check = byId.get(canaryCommandId(input.invocationId, 'check', deviceId));
      if (check?.status !== 'succeeded') return { deviceId, passed: false, reason: `the read-back ${check ? check.status : 'never ran'}${check?.errorCode ? ` (${check.errorCode})` : ''}` };
      const problem = readBackProblem(input.expect, check.result);
      return problem ? { deviceId, passed: false, reason: problem } : { deviceId, passed: true };
    });
    return { checks };
  };
}
