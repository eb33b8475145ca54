/**
 * The bench's technician asks hundreds of times in a row: past the default limits (20 messages a minute, 30
 * manage_service calls in ten minutes, a $20 daily budget). They are raised as an MSP's admin would raise them, with
 * the admin API (the org's policy and budget), not by a setting only the bench knows; every guard still runs.
 */
import type { TestSystem } from '../test/harness';

export async function raiseLimitsAsAdmin(sys: TestSystem, calls: number): Promise<void> {
  const admin = sys.keyOf('admin');
  const org = sys.seed.orgs.acme.slug;
  const perUser = Math.min(100_000, Math.max(1000, calls * 4));
  const policy = await sys.request('PUT', `/v1/orgs/${org}/policy`, {
    key: admin,
    body: {
      overrides: [],
      reason: 'bench: limits above the load',
      rateLimits: { userMessagesPerMinute: Math.min(10_000, perUser), orgMessagesPerHour: Math.min(1_000_000, perUser * 10), toolCallsPerUser: { manage_service: perUser, get_device_info: perUser, list_devices: perUser } },
    },
  });
  if (policy.status !== 200) throw new Error(`raising the rate limits was refused: ${JSON.stringify(policy.body)}`);
  const budget = await sys.request('PUT', `/v1/orgs/${org}/budget`, { key: admin, body: { dailyUsd: 100_000, monthlyUsd: 1_000_000, hourlyUsd: 100_000, reason: 'bench: limits out of the way' } });
  if (budget.status !== 200) throw new Error(`raising the budget was refused: ${JSON.stringify(budget.body)}`);
}
