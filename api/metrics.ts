/**
 * The api's gauges, read when Prometheus scrapes: agents connected to this node (from its gateways), and from
 * PostgreSQL the approvals pending, the device commands of the last day by state, and every org's budget. The
 * database figures are the whole deployment's (or one partner's, with PARTNER_ID), so each api node reports the
 * same: dashboards take their max. A scrape while PostgreSQL is down leaves those series out rather than failing,
 * so the counters (fail-closed events among them) stay readable in an outage.
 */
import { limitsOf, periods } from '../lib/budget';
import type { ApiMetrics } from '../lib/metrics';
import { sweptApprovals, sweptCommands, type ApiDeps } from './deps';

const DAY_MS = 24 * 3600_000;
const usd = (micros: bigint | number) => Number(micros) / 1_000_000;

interface ConnectionCount {
  stats(): { connected: number };
}

/** Per metrics object, the gateways of the api nodes that report to it (the tests run several nodes on one). */
const gatewaysOf = new WeakMap<ApiMetrics, Set<ConnectionCount>>();

/** Adds a node's gateway to the agents-connected gauge; the returned function removes it (on close). */
export function countAgentsOf(metrics: ApiMetrics, gateway: ConnectionCount): () => void {
  let gateways = gatewaysOf.get(metrics);
  if (!gateways) {
    const set = new Set<ConnectionCount>();
    gateways = set;
    gatewaysOf.set(metrics, set);
    metrics.collectors.agents = () => metrics.agentsConnected.set([...set].reduce((n, g) => n + g.stats().connected, 0));
  }
  gateways.add(gateway);
  return () => gateways.delete(gateway);
}

/** Sets the database-backed gauges' collect functions (once per metrics object; every node's are the same). */
export function collectFromDatabase(deps: Pick<ApiDeps, 'prisma' | 'config' | 'metrics' | 'logger'>): void {
  const { prisma, metrics } = deps;
  const guarded = (name: string, gauge: { reset(): void }, fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (err) {
      gauge.reset();
      deps.logger.debug({ err: (err as Error).message, metric: name }, 'metric not collected');
    }
  };

  metrics.collectors.approvals = guarded('approvals_pending', metrics.approvalsPending, async () => {
    const rows = await prisma.approval.groupBy({ by: ['tier'], where: { status: 'pending', ...sweptApprovals(deps) }, _count: { _all: true } });
    metrics.approvalsPending.reset();
    for (const tier of [3, 4]) metrics.approvalsPending.set({ tier: String(tier) }, rows.find((r) => r.tier === tier)?._count._all ?? 0);
  });

  metrics.collectors.commands = guarded('device_commands', metrics.commands, async () => {
    const rows = await prisma.deviceCommand.groupBy({ by: ['status'], where: { createdAt: { gt: new Date(Date.now() - DAY_MS) }, ...sweptCommands(deps) }, _count: { _all: true } });
    metrics.commands.reset();
    for (const state of ['pending', 'delivered', 'succeeded', 'failed', 'expired']) metrics.commands.set({ state }, rows.find((r) => r.status === state)?._count._all ?? 0);
  });

  // One read for the three budget gauges: a scrape collects them at once, and they share the read in flight.
  let budgets: Promise<void> | undefined;
  const readBudgets = () => {
    budgets ??= (async () => {
      const { day, month } = periods(new Date());
      const orgs = await prisma.organization.findMany({ where: deps.config.partnerId ? { partnerId: deps.config.partnerId } : {}, select: { id: true, slug: true } });
      const ids = orgs.map((o) => o.id);
      const [counters, own] = await Promise.all([
        prisma.spendCounter.findMany({ where: { orgId: { in: ids }, period: { in: [day, month] } } }),
        // The ceilings in force are each org's policy (lib/budget.ts limitsOf reads the same).
        Promise.all(ids.map(async (orgId) => ({ orgId, ...(await limitsOf(prisma, orgId, deps.config.guards.budget)) }))),
      ]);
      const defaults = deps.config.guards.budget;
      for (const g of [metrics.budgetSpent, metrics.budgetReserved, metrics.budgetLimit]) g.reset();
      for (const org of orgs) {
        const budget = own.find((b) => b.orgId === org.id);
        for (const [period, key] of [['day', day], ['month', month]] as const) {
          const counter = counters.find((c) => c.orgId === org.id && c.period === key);
          const labels = { org: org.slug, period };
          metrics.budgetSpent.set(labels, usd(counter?.spentMicros ?? 0));
          metrics.budgetReserved.set(labels, usd(counter?.reservedMicros ?? 0));
          metrics.budgetLimit.set(labels, usd(period === 'day' ? (budget?.dailyMicros ?? defaults.dailyMicros) : (budget?.monthlyMicros ?? defaults.monthlyMicros)));
        }
      }
    })().finally(() => {
      budgets = undefined;
    });
    return budgets;
  };
  const budgetGauges = [metrics.budgetSpent, metrics.budgetReserved, metrics.budgetLimit];
  metrics.collectors.budget = guarded('budget', { reset: () => budgetGauges.forEach((g) => g.reset()) }, readBudgets);
}
