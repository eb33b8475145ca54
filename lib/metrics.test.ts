import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadEnv, metricsListenConfig } from './env';
import { createApiMetrics, createWorkerMetrics, serveMetrics } from './metrics';

describe('the metrics listener', () => {
  it('refuses to bind /metrics beyond loopback without a token', () => {
    expect(() => metricsListenConfig(loadEnv({ METRICS_HOST: '0.0.0.0' }), 'api')).toThrow(/METRICS_HOST 0\.0\.0\.0 is not loopback: set METRICS_TOKEN/);
    expect(metricsListenConfig(loadEnv({ METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 'x'.repeat(32) }), 'worker')).toEqual({ host: '0.0.0.0', port: 9465, token: 'x'.repeat(32) });
    expect(metricsListenConfig(loadEnv({}), 'api')).toEqual({ host: '127.0.0.1', port: 9464, token: undefined });
  });

  it('answers only the bearer of the token when it has one', async () => {
    const metrics = createWorkerMetrics();
    metrics.turns.inc({ outcome: 'answered' });
    const listener = await serveMetrics(metrics.registry, { host: '127.0.0.1', port: 0, token: 't'.repeat(32) });
    try {
      const refused = await fetch(listener.url);
      expect(refused.status).toBe(401);
      expect(await refused.text()).not.toContain('gatehouse_');
      expect((await fetch(listener.url, { headers: { authorization: `Bearer ${'u'.repeat(32)}` } })).status).toBe(401);
      const served = await fetch(listener.url, { headers: { authorization: `Bearer ${'t'.repeat(32)}` } });
      expect(served.status).toBe(200);
      expect(await served.text()).toContain('gatehouse_turns_total{outcome="answered",process="worker"} 1');
      expect((await fetch(listener.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await listener.close();
    }
  });
});

describe('ops/grafana-dashboard.json', () => {
  it('is built only on metrics the api and the worker export', async () => {
    const known = new Set<string>();
    for (const m of [createApiMetrics(), createWorkerMetrics()]) {
      for (const metric of await m.registry.getMetricsAsJSON()) known.add(metric.name);
    }
    const dashboard = JSON.parse(readFileSync(path.join(__dirname, '..', 'ops', 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b(gatehouse_\w+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''))));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !known.has(name))).toEqual([]);
  });
});
