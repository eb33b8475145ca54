import type Anthropic from '@anthropic-ai/sdk';
import type { Pool, PrismaClient } from '../lib/prisma';
import type { GuardConfig } from '../lib/env';
import type { Logger } from '../lib/logger';
import type { WorkerMetrics } from '../lib/metrics';
import type { UpstreamRules } from '../lib/mcp-upstream';
import type { RateLimiter } from '../lib/rate-limiter';

/** Everything the activities need, passed in once by the worker (and by tests). */
export interface ActivityDeps {
  prisma: PrismaClient;
  /** Prisma's own connection pool, for the statements that run in plain SQL (lib/device-commands.ts). */
  pool: Pool;
  anthropic: Anthropic;
  logger: Logger;
  model: { name: string; maxTokens: number; offline: boolean };
  commands: { ttlSeconds: number };
  /** Discovery of the device's own loopback allowed (tests on one machine; never in production). */
  discovery: { allowLoopback: boolean };
  /** What upstream MCP servers may be: the commands the worker may run, whether URLs may reach inside. */
  mcpUpstream: UpstreamRules;
  /** Sliding-window limits in Redis; errors mean deny. */
  limiter: RateLimiter;
  guards: GuardConfig;
  /** The worker's Prometheus counters (lib/metrics.ts): bounded labels only, never an id or a text. */
  metrics: WorkerMetrics;
}
