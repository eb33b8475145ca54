import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Env, GuardConfig } from '../lib/env';
import type { UpstreamRules } from '../lib/mcp-upstream';
import type { Logger } from '../lib/logger';
import type { ApiMetrics } from '../lib/metrics';
import type { SigningKey } from '../cage/command-signing';
import type { RateLimiter } from '../lib/rate-limiter';
import type { Pool, PrismaClient } from '../lib/prisma';
import type { Redis } from '../lib/redis';

/** SMTP for approval mails and password-reset links. */
export interface MailConfig {
  /** smtp://host:port (or smtps://…); unset turns the email channel off. */
  smtpUrl: string;
  from: string;
}

/** The Slack app for approvals. */
export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  /** The Slack Web API base URL (https://slack.com/api/ unless changed). */
  apiUrl?: string;
}

/** What the api needs, passed in by api/main.ts (and by tests, with real services on port 0). */
export interface ApiDeps {
  prisma: PrismaClient;
  /** Prisma's own connection pool, for the statements that run in plain SQL (lib/device-commands.ts). */
  pool: Pool;
  temporal: Client;
  /** Decrypts history payloads for the timeline and the Temporal UI's codec endpoint (`temporal` has it too). */
  payloadCodec: PayloadCodec;
  redis: Redis;
  limiter: RateLimiter;
  logger: Logger;
  /** This process's Prometheus metrics (lib/metrics.ts), served apart from the public port by api/main.ts. */
  metrics: ApiMetrics;
  config: {
    databaseUrl: string;
    taskQueue: string;
    temporalNamespace: string;
    temporalUiUrl: string;
    /** How often the gateway expires overdue commands and retries activity completions. */
    sweepIntervalMs: number;
    /** How long an agent may run one command before it kills it. */
    commandTimeoutSeconds: number;
    guards: GuardConfig;
    /** Largest JSON body accepted, in bytes. */
    bodyLimitBytes: number;
    /** Idle keep-alive of HTTP connections; longer than any client's or load balancer's (see lib/env.ts). */
    httpKeepAliveSeconds: number;
    /** Confines the background sweeps to this partner's organizations (see PARTNER_ID in lib/env.ts). */
    partnerId?: string;
    /** The Redis stream this deployment's api nodes share for Socket.IO; another deployment on the same Redis uses its own. */
    socketIoStream: string;
    /** Remote terminals (docs/terminal.md): the window cap, idle time, terminals per device, recording size cap. */
    terminals: { windowSeconds: number; maxPerDevice: number; idleSeconds: number; recordingMaxBytes: number };
    /** Signs every command sent to an agent; its public half is given to agents at enrollment. */
    commandSigningKey: SigningKey;
    /** Signs the CSRF tokens of the web pages; the same on every api node. */
    webSecret: string;
    /** What upstream MCP servers an org admin may register (commands to run, URLs inside); none when unset. */
    mcpUpstream?: UpstreamRules;
    /** Where people reach the api (links in mails); the listening address when unset. */
    publicUrl?: string;
    /** SMTP for approval mails; unset turns the email channel off. */
    mail?: MailConfig;
    /** The Slack app for approvals; unset turns the Slack channel off. */
    slack?: SlackConfig;
    /**
     * Whether every route's answer is checked against its response schema before it leaves (an answer off its
     * schema is a 500 and an error in the log). On unless turned off; api/main.ts turns it off in production.
     */
    checkResponses?: boolean;
  };
}

/** The approvals the api's background sweeps serve: every one, or one partner's (a shared database). */
export function sweptApprovals(deps: Pick<ApiDeps, 'config'>): { org?: { partnerId: string } } {
  return deps.config.partnerId ? { org: { partnerId: deps.config.partnerId } } : {};
}

/** The device commands the gateway's sweep reports and heartbeats: every one, or one partner's (a shared database). */
export function sweptCommands(deps: Pick<ApiDeps, 'config'>): { device?: { org: { partnerId: string } } } {
  return deps.config.partnerId ? { device: { org: { partnerId: deps.config.partnerId } } } : {};
}

/** The terminal settings of the api from the environment. */
export function terminalConfig(env: Pick<Env, 'TERMINAL_WINDOW_SECONDS' | 'TERMINAL_MAX_PER_DEVICE' | 'TERMINAL_IDLE_SECONDS' | 'TERMINAL_RECORDING_MAX_MB'>): ApiDeps['config']['terminals'] {
  return {
    windowSeconds: env.TERMINAL_WINDOW_SECONDS,
    maxPerDevice: env.TERMINAL_MAX_PER_DEVICE,
    idleSeconds: env.TERMINAL_IDLE_SECONDS,
    recordingMaxBytes: env.TERMINAL_RECORDING_MAX_MB * 1024 * 1024,
  };
}
