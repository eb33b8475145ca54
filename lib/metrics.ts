/**
 * Prometheus metrics (prom-client), one registry per process so the api and the worker (and the tests, which run
 * both in one process) never mix their series. Every label has a small, fixed set of values: outcomes, tiers,
 * rules, channels, stores, command kinds. No id is ever a label (a session, device or user id would make a new
 * series per id); the one label that grows with the business is the org slug of the budget gauges, bounded by the
 * number of organizations an MSP manages (docs/running.md#metrics).
 *
 * `serveMetrics` answers `GET /metrics` on a listener of its own, so the metrics never share the public port: it
 * binds to loopback unless a bearer token guards it (lib/env.ts refuses anything else).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type { Registry };

/** Where a fail-closed check's store failed, and which check refused because of it. */
export type FailClosedStore = 'redis' | 'postgres';
export type FailClosedCheck = 'rate_limits' | 'budget' | 'tool_rate_limit' | 'authorization' | 'agent_frames';
export type RateLimit = 'user_messages' | 'org_messages' | 'org_spend' | 'tool' | 'agent_frames' | 'agent_output';

/** Why a tool call was denied: a fixed vocabulary, never the reason's text (which can quote the model's input). */
export const DENIAL_RULES = [
  'unknown_tool',
  'invalid_input',
  'rate_limit',
  'store_unavailable',
  'paused',
  'no_role',
  'out_of_scope',
  'discovery_range',
  'script',
  'policy',
  'authorization_failed',
  'turn_author',
  'breaker',
  'session_identity',
  'upstream_disabled',
  'oauth_scope',
] as const;
export type DenialRule = (typeof DENIAL_RULES)[number];

function registry(process: 'api' | 'worker', defaults: boolean): Registry {
  const r = new Registry();
  r.setDefaultLabels({ process });
  // Node's own gauges (event loop lag, heap, GC). Off in tests, where many registries share one process.
  if (defaults) collectDefaultMetrics({ register: r, prefix: 'gatehouse_' });
  return r;
}

/** What the worker counts: turns, tool calls and what refused them, as its activities and workflows decide. */
export function createWorkerMetrics(opts: { defaults?: boolean } = {}) {
  const registers = [registry('worker', opts.defaults ?? false)];
  return {
    registry: registers[0]!,
    turns: new Counter({ name: 'gatehouse_turns_total', help: 'Copilot turns that ended, by outcome (answered, refused by a guard, failed)', labelNames: ['outcome'] as const, registers }),
    toolCalls: new Counter({
      name: 'gatehouse_tool_calls_total',
      help: 'Tool calls the model asked for, by resolved tier (none when denied before a tier) and authorization outcome (allowed, approval_requested, denied)',
      labelNames: ['tier', 'outcome'] as const,
      registers,
    }),
    denials: new Counter({ name: 'gatehouse_tool_denials_total', help: 'Tool calls denied, by the rule that denied them', labelNames: ['rule'] as const, registers }),
    breakerTrips: new Counter({ name: 'gatehouse_breaker_trips_total', help: "Sessions' circuit breakers tripped (three rejections in a row)", registers }),
    rateLimitRefusals: new Counter({ name: 'gatehouse_rate_limit_refusals_total', help: 'Messages, tool calls and model calls refused by a rate limit, by limit', labelNames: ['limit'] as const, registers }),
    failClosed: new Counter({ name: 'gatehouse_fail_closed_total', help: 'Checks that refused because their store could not be reached, by store and check', labelNames: ['store', 'check'] as const, registers }),
    detectorFlags: new Counter({ name: 'gatehouse_injection_flags_total', help: 'Injection detector hits, by where (user_message: refused; tool_output: fenced and flagged)', labelNames: ['where'] as const, registers }),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** What the api counts: decisions and their latency, the kill switch, agents and their commands. */
export function createApiMetrics(opts: { defaults?: boolean } = {}) {
  const registers = [registry('api', opts.defaults ?? false)];
  /** What fills the gauges when scraped; set by the api (api/metrics.ts), which has the gateway and the database. */
  const collectors: Partial<Record<'agents' | 'approvals' | 'commands' | 'budget', () => void | Promise<void>>> = {};
  return {
    registry: registers[0]!,
    collectors,
    approvalDecisions: new Histogram({
      name: 'gatehouse_approval_decision_seconds',
      help: 'Time from an approval request to its decision, by channel (api, console, slack, email) and decision',
      labelNames: ['channel', 'decision'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    pauses: new Counter({ name: 'gatehouse_copilot_pauses_total', help: "Uses of an org's kill switch, by action (paused, resumed)", labelNames: ['action'] as const, registers }),
    commandDuration: new Histogram({
      name: 'gatehouse_device_command_seconds',
      help: 'Time from a device command being queued to its result arriving at this api node, by command kind and outcome',
      labelNames: ['kind', 'outcome'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    rateLimitRefusals: new Counter({ name: 'gatehouse_rate_limit_refusals_total', help: "Agents' frames refused by a rate limit, by limit", labelNames: ['limit'] as const, registers }),
    failClosed: new Counter({ name: 'gatehouse_fail_closed_total', help: 'Checks that refused because their store could not be reached, by store and check', labelNames: ['store', 'check'] as const, registers }),
    /** Gauges read when scraped, through `collectors`. */
    agentsConnected: new Gauge({ name: 'gatehouse_agents_connected', help: 'Agents connected to this api node', registers, collect: () => collectors.agents?.() }),
    approvalsPending: new Gauge({ name: 'gatehouse_approvals_pending', help: 'Approvals waiting for a decision, by tier (whole deployment: take max over api nodes)', labelNames: ['tier'] as const, registers, collect: () => collectors.approvals?.() }),
    commands: new Gauge({ name: 'gatehouse_device_commands', help: 'Device commands queued in the last 24 hours, by state (whole deployment: take max over api nodes)', labelNames: ['state'] as const, registers, collect: () => collectors.commands?.() }),
    // One read fills the three budget gauges: the collector shares it between them within a scrape.
    budgetSpent: new Gauge({ name: 'gatehouse_budget_spent_usd', help: 'Settled model spend in the current UTC day and month, by org slug and period', labelNames: ['org', 'period'] as const, registers, collect: () => collectors.budget?.() }),
    budgetReserved: new Gauge({ name: 'gatehouse_budget_reserved_usd', help: 'Open reservations against the current UTC day and month, by org slug and period', labelNames: ['org', 'period'] as const, registers, collect: () => collectors.budget?.() }),
    budgetLimit: new Gauge({ name: 'gatehouse_budget_limit_usd', help: "The org's budget for the period, by org slug and period", labelNames: ['org', 'period'] as const, registers, collect: () => collectors.budget?.() }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` from `registry` on host:port. With a token, every request must carry
 * `Authorization: Bearer <token>` (compared in constant time); anything else is a 401 with no metrics.
 */
export async function serveMetrics(registry: Registry, opts: { host: string; port: number; token?: string }): Promise<MetricsListener> {
  const expected = opts.token ? crypto.createHash('sha256').update(`Bearer ${opts.token}`).digest() : undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (expected) {
      const given = crypto.createHash('sha256').update(req.headers.authorization ?? '').digest();
      if (!crypto.timingSafeEqual(given, expected)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized\n');
        return;
      }
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
