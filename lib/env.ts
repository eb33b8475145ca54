/**
 * The one place that reads process.env. Each entry point calls `loadEnv()` once; everything else receives the
 * parsed `Env`. A bad value stops the process with a message naming the variable.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

const repoRoot = path.resolve(__dirname, '..');

const port = z.coerce.number().int().min(0).max(65_535);
const url = z.url();

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const JAEGER_VERSION = 'v1.75.0';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Every variable, its default and its description. `npm run docs` writes docs/configuration.md from this schema
 * (the `.describe()` texts), and a test fails when that file is stale.
 */
export const Env = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development').describe('What the processes run as; in `production` the api will not start without `COMMAND_SIGNING_KEY` and `WEB_SECRET`.'),
  LOG_LEVEL: logLevel.default('info').describe('pino log level of every process.'),
  TEST_LOG_LEVEL: logLevel.default('error').describe('Log level of the services the integration tests start (errors are shown by default).'),
  TEST_INVARIANTS_SEED: z.coerce.number().int().optional().describe('fast-check seed of the randomized invariants run (`test/invariants.int.test.ts`); a failure prints the seed to set here. Unset: random.'),
  TEST_WORKFLOW_BUNDLE: z.string().optional().describe("Set by jest's global setup, not by hand: the manifest of the workflow bundle built once per jest run for the integration tests' workers and the audit CLI they run (used only while its sources are unchanged: lib/workflow-bundle.ts)."),
  TEST_FUZZ_CASES_PER_ROUTE: z.coerce.number().int().min(1).max(100_000).default(100).describe('Random malformed requests per route in `api/fuzz.int.test.ts`, after its targeted ones (every hostile value in every field); raise it for a deeper run.'),
  PATH: z.string().default('/usr/local/bin:/usr/bin:/bin').describe("The agent passes it (and nothing else of its environment) to the scripts it runs."),
  DATA_DIR: z.string().default(path.join(repoRoot, 'data')).describe('Demo credentials, the Temporal database, CLI session ids, the command signing key, agent credentials with their command journals and spooled command output, audit exports, test screenshots.'),

  HOST: z.string().default('127.0.0.1').describe('The address the api listens on.'),
  PORT: port.default(3000).describe('The port the api listens on.'),
  PUBLIC_URL: url.optional().describe("The api's address as agents, CLIs and the links in approval mails reach it. Unset: `http://<HOST>:<PORT>`."),

  DATABASE_URL: url.default('postgresql://postgres@127.0.0.1:5432/gatehouse').describe('PostgreSQL.'),
  TEST_DATABASE_URL: url.default('postgresql://postgres@127.0.0.1:5432/gatehouse_test').describe('PostgreSQL for `npm test`.'),
  REDIS_URL: url.default('redis://127.0.0.1:6379').describe('Redis.'),

  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port').default('127.0.0.1:7233').describe('Temporal frontend (`host:port`); `npm start` runs a dev server only when this is local and free.'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default').describe('Temporal namespace.'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('gatehouse').describe('Task queue of the worker.'),
  TEMPORAL_UI_URL: url.default('http://127.0.0.1:8233').describe('Temporal Web UI base, for links.'),
  TEMPORAL_UI_PORT: port.default(8233).describe('Web UI port of the local dev server.'),
  TEMPORAL_CLI_PATH: z.string().optional().describe(`An existing Temporal CLI to use instead of building one. Unset: \`<XDG_CACHE_HOME>/gatehouse/temporal-${TEMPORAL_CLI_VERSION}/temporal\`, built by the set-up.`),
  XDG_CACHE_HOME: z.string().optional().describe('Where the Temporal CLI and Jaeger are cached. Unset: `~/.cache`.'),

  ANTHROPIC_API_KEY: z.string().min(1).optional().describe('Set it to use Claude; unset means the offline model.'),
  ANTHROPIC_BASE_URL: url.optional().describe("Messages API base URL. Unset: Anthropic's when `ANTHROPIC_API_KEY` is set, else `http://127.0.0.1:<OFFLINE_MODEL_PORT>`."),
  ANTHROPIC_MODEL: z.string().min(1).default('claude-sonnet-5-5').describe('Model name.'),
  MODEL_MAX_TOKENS: z.coerce.number().int().min(256).max(64_000).default(2048).describe('`max_tokens` per model call.'),
  OFFLINE_MODEL_PORT: port.default(4010).describe('Port of the offline model.'),
  OIDC_DEMO_PORT: port.default(4020).describe('Port of the local OpenID provider `npm start` runs for single sign-on (loopback only; the demo partner signs in through it).'),

  GATEHOUSE_SERVER_URL: url.default('http://127.0.0.1:3000').describe('The api address used by the agent and the CLI.'),
  GATEHOUSE_API_KEY: z.string().optional().describe("API key for the CLI (`--api-key` wins). Unset: the key of the org's demo user for the command (the technician to ask, the approver to decide), from `<DATA_DIR>/demo-credentials.json`."),
  GATEHOUSE_AGENT_CREDENTIALS: z.string().optional().describe("The agent's credential file. Unset: `<DATA_DIR>/agent-credential.json`."),

  SIMULATED_DEVICES: z.coerce.number().int().min(0).max(1000).default(5).describe('Simulated Windows-like endpoints `npm start` runs for `acme` (0 for none).'),

  // Budgets (USD) for orgs without their own, and rate limits. Every limit is configurable here.
  DEFAULT_DAILY_BUDGET_USD: z.coerce.number().positive().default(20).describe('Daily model budget (USD) of orgs that have none of their own.'),
  DEFAULT_MONTHLY_BUDGET_USD: z.coerce.number().positive().default(300).describe('Monthly model budget (USD) of orgs that have none of their own.'),
  DEFAULT_HOURLY_SPEND_USD: z.coerce.number().positive().default(5).describe('Hourly spend ceiling (USD) of orgs that have none of their own.'),
  RATE_USER_MESSAGES_PER_MINUTE: z.coerce.number().int().min(1).default(20).describe('Copilot messages per user per minute.'),
  RATE_ORG_MESSAGES_PER_HOUR: z.coerce.number().int().min(1).default(200).describe('Copilot messages per org per hour.'),
  RATE_AGENT_MESSAGES_PER_MINUTE: z.coerce.number().int().min(1).default(120).describe('Frames per agent per minute in the gateway.'),
  RATE_AGENT_OUTPUT_CHUNKS_PER_MINUTE: z.coerce.number().int().min(1).default(256).describe('Chunks of full script output (256 KiB each) per agent per minute, counted apart from its other frames.'),
  // The integration tests run several deployments on one database at once; each sets its own.
  PARTNER_ID: z.uuid().optional().describe("Confines the api's background sweeps (approval mails and reminders, Slack posts and updates, the decision outbox, reporting device commands' outcomes to their workflows) to one partner's organizations, for deployments that share a database. Unset: every organization in the database."),
  SOCKET_IO_STREAM: z.string().regex(/^[\w:.-]{1,100}$/, 'letters, digits and : . _ - only').default('gatehouse:socket.io').describe("The Redis stream one deployment's api nodes share for Socket.IO (rooms, the clone check across nodes); give each deployment sharing one Redis its own."),
  RATE_KEY_PREFIX: z.string().regex(/^[\w:.-]{1,64}$/, 'letters, digits and : . _ - only').default('gh:rl:').describe("Prefix of the rate limiter's Redis keys; give each deployment sharing one Redis its own."),
  RATE_WINDOW_SCALE: z.coerce.number().positive().max(100).default(1).describe('Multiplies every rate-limit window (1 = as documented); tests use small values to watch windows slide.'),

  COMMAND_SIGNING_KEY: z.string().min(40).optional().describe('Ed25519 private key (PKCS#8 PEM; `\\n` may stand for newlines) that signs every command sent to agents. Required in production; unset elsewhere: `<DATA_DIR>/command-signing-key.pem`, made on first start.'),
  PAYLOAD_KEYS: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      const problem = value === undefined ? null : payloadKeysProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('Keys that encrypt workflow payloads in Temporal (lib/payload-codec.ts): comma-separated `<keyId>:<base64 of 32 bytes>`. The first encrypts; every one decrypts, so a rotation puts the new key first and keeps the old ones. Required in production; unset elsewhere: `<DATA_DIR>/payload-keys`, made on first start.'),
  WEB_SECRET: z.string().min(32, 'WEB_SECRET must be at least 32 characters').optional().describe("Signs the web pages' CSRF tokens (at least 32 characters, the same on every api node). Required in production; unset elsewhere: random per process."),
  WEB_SESSION_IDLE_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(60).describe('A console session ends after this long without a request (the cookie and the stored session expire together).'),
  WEB_SESSION_MAX_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(12).describe('A console session ends this long after its sign-in, however active (sign in again).'),
  SMTP_URL: z.string().regex(/^smtps?:\/\/\S+$/, 'expected smtp://host:port or smtps://…').optional().describe('SMTP server for approval mails, e.g. `smtp://127.0.0.1:2525`; unset turns the email channel off.'),
  MAIL_FROM: z.string().min(3).default('Gatehouse <approvals@gatehouse.local>').describe('Sender of approval mails.'),
  SLACK_BOT_TOKEN: z.string().min(10).optional().describe('Bot token of the Slack app for approvals (set both Slack secrets or neither; unset turns Slack off).'),
  SLACK_SIGNING_SECRET: z.string().min(10).optional().describe('Signing secret of the Slack app for approvals (set both Slack secrets or neither).'),
  SLACK_API_URL: url.default('https://slack.com/api/').describe('The Slack Web API base URL; a local server in tests.'),

  CHROMIUM_PATH: z.string().default('/usr/bin/chromium').describe('The Chromium the browser tests drive (Debian\'s package; `npm test` installs it when missing).'),

  MCP_UPSTREAM_STDIO_ALLOW: z.string().default('').describe('Command lines an org admin may register as upstream MCP servers run over stdio by Gatehouse, separated by `;`, each as its first words (`node /opt/mcp/server-filesystem/dist/index.js; uvx mcp-server-time`): a registration\'s command and arguments must start with one. Empty: no stdio upstreams.'),
  MCP_UPSTREAM_ALLOW_PRIVATE_URLS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true').describe('Lets upstream MCP servers registered by URL be on loopback or private addresses (tests, or vendor servers inside your network); off, such a URL is refused.'),
  DISCOVERY_ALLOW_LOOPBACK: z.enum(['true', 'false']).default('false').transform((v) => v === 'true').describe('Lets network discovery scan 127/8 (tests on one machine); never set in production.'),

  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional().describe('OTLP/HTTP endpoint (the collector\'s base URL, e.g. `http://127.0.0.1:4318`) the api, the worker and the agent send their trace spans to. Unset: tracing is off and costs nothing (`npm start` sets it to its local Jaeger).'),
  JAEGER_PATH: z.string().optional().describe(`An existing Jaeger ${JAEGER_VERSION} all-in-one binary for \`npm start\`. Unset: \`<XDG_CACHE_HOME>/gatehouse/jaeger-${JAEGER_VERSION}/jaeger\`, built by the set-up when Go is installed (without it, \`npm start\` runs without traces).`),
  JAEGER_UI_PORT: port.default(16686).describe('Port of the Jaeger UI and query API that `npm start` runs (loopback only).'),
  JAEGER_UI_ASSETS: z
    .string()
    .optional()
    .describe("A directory of web assets Jaeger's query service serves as its UI (a built jaeger-ui, for one). Unset: Gatehouse's trace viewer (`ops/trace-viewer`), since the Go build of Jaeger carries no UI."),
  METRICS_HOST: z.string().min(1).default('127.0.0.1').describe('The address the api\'s and the worker\'s `/metrics` listeners bind to. Anything but loopback needs `METRICS_TOKEN`.'),
  API_METRICS_PORT: port.default(9464).describe('Port of the api\'s Prometheus `/metrics` listener (its own port, never the public one).'),
  WORKER_METRICS_PORT: port.default(9465).describe('Port of the worker\'s Prometheus `/metrics` listener.'),
  METRICS_TOKEN: z.string().min(24, 'METRICS_TOKEN must be at least 24 characters').optional().describe('When set, `/metrics` answers only requests with `Authorization: Bearer <METRICS_TOKEN>`; required when `METRICS_HOST` is not loopback.'),

  COMMAND_TTL_SECONDS: z.coerce.number().int().min(5).max(7 * 24 * 3600).default(600).describe('How long a device command waits for an offline device.'),
  // The remote terminal (docs/terminal.md).
  TERMINAL_WINDOW_SECONDS: z.coerce.number().int().min(5).max(86_400).default(1800).describe('How long an approved terminal may stay open, from the approval (its window; default 30 minutes); a technician may ask for less, never more.'),
  TERMINAL_IDLE_SECONDS: z.coerce.number().int().min(10).max(86_400).default(600).describe('A terminal with no input and no output for this long closes.'),
  TERMINAL_MAX_PER_DEVICE: z.coerce.number().int().min(1).max(64).default(4).describe('Terminals open at once on one device (enforced by the api and by the agent).'),
  TERMINAL_RECORDING_MAX_MB: z.coerce.number().int().min(1).max(4096).default(64).describe('Largest recording of one terminal; a terminal whose recording reaches it closes (nothing unrecorded is ever shown).'),
  TERMINAL_SHELL: z.string().default('/bin/bash').describe('The shell the Linux agent opens for a remote terminal.'),
  COMMAND_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(120).describe('How long an agent may run one command.'),
  // A server that closes an idle connection first races the client's next request on that socket, which then fails
  // with ECONNRESET; so the client must always be the side that closes.
  HTTP_KEEP_ALIVE_SECONDS: z.coerce.number().int().min(1).max(280).default(65).describe('How long the api keeps an idle HTTP connection open; keep it above the idle timeout of every client and load balancer in front of it (60 s for the common ones), so the client closes first.'),
});
export type Env = z.infer<typeof Env>;

/** One key of PAYLOAD_KEYS. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses PAYLOAD_KEYS (or the dev key file, in the same format; commas or newlines between keys). Problems name the
 * key by its id or position, never its material.
 */
export function parsePayloadKeys(value: string): { keys: PayloadKey[] } | { problem: string } {
  const entries = value.split(/[,\s]+/).filter(Boolean);
  if (!entries.length) return { problem: 'expected at least one <keyId>:<base64 of 32 bytes>' };
  const keys: PayloadKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const material = colon < 0 ? '' : entry.slice(colon + 1);
    if (!KEY_ID.test(id)) return { problem: `key #${i + 1}: expected <keyId>:<base64 of 32 bytes>, the id made of letters, digits and . _ - (at most 64)` };
    if (keys.some((k) => k.id === id)) return { problem: `key id ${id} appears twice; every key needs its own id` };
    const key = Buffer.from(material, 'base64');
    if (!BASE64.test(material) || key.length !== 32) return { problem: `key ${id}: expected 32 bytes in base64 (e.g. from \`openssl rand -base64 32\`)` };
    keys.push({ id, key });
  }
  return { keys };
}

function payloadKeysProblem(value: string): string | null {
  const parsed = parsePayloadKeys(value);
  return 'problem' in parsed ? parsed.problem : null;
}

export class EnvError extends Error {}

/** The process environment with `extra` on top: for loadEnv overrides and for child processes' environments. */
export function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings mean "unset", as most shells and compose files write them.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = Env.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new EnvError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

/**
 * Jest's global setup hands the run's workflow bundle (test/workflow-bundle.ts, lib/workflow-bundle.ts) to the test workers: they inherit
 * this process's environment when jest starts them, and read it back through `loadEnv` like any other variable.
 */
export function exportTestWorkflowBundle(manifestPath: string): void {
  process.env.TEST_WORKFLOW_BUNDLE = manifestPath;
}

/** Entry points call this: a bad environment prints one line naming the variable and exits. */
export function loadEnvOrExit(source: NodeJS.ProcessEnv = process.env): Env {
  try {
    return loadEnv(source);
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(`gatehouse: ${err.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

/** Where the model lives: Anthropic when a key is set, the offline model server otherwise. */
export function modelEndpoint(env: Env): { baseURL: string; apiKey: string; offline: boolean } {
  if (env.ANTHROPIC_API_KEY) {
    return { baseURL: env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com', apiKey: env.ANTHROPIC_API_KEY, offline: false };
  }
  return {
    baseURL: env.ANTHROPIC_BASE_URL ?? `http://127.0.0.1:${env.OFFLINE_MODEL_PORT}`,
    apiKey: 'offline-model-needs-no-key',
    offline: true,
  };
}

/** The Temporal CLI lives in a cache outside the clone, so every clone on the machine shares one build. */
export function temporalCliPath(env: Env): string {
  if (env.TEMPORAL_CLI_PATH) return env.TEMPORAL_CLI_PATH;
  const cache = env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'gatehouse', `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Where a process serves `/metrics`: on loopback, or anywhere behind METRICS_TOKEN (fail closed otherwise). */
export function metricsListenConfig(env: Env, which: 'api' | 'worker'): { host: string; port: number; token?: string } {
  if (!LOOPBACK_HOSTS.has(env.METRICS_HOST) && !env.METRICS_TOKEN) {
    throw new EnvError(`METRICS_HOST ${env.METRICS_HOST} is not loopback: set METRICS_TOKEN so /metrics is not open to anyone who reaches it`);
  }
  return { host: env.METRICS_HOST, port: which === 'api' ? env.API_METRICS_PORT : env.WORKER_METRICS_PORT, token: env.METRICS_TOKEN };
}

/** Jaeger, like the Temporal CLI, lives in the cache outside the clone: one build per machine. */
export function jaegerPath(env: Env): string {
  if (env.JAEGER_PATH) return env.JAEGER_PATH;
  const cache = env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'gatehouse', `jaeger-${JAEGER_VERSION}`, 'jaeger');
}

export function agentCredentialsPath(env: Env): string {
  return env.GATEHOUSE_AGENT_CREDENTIALS ?? path.join(env.DATA_DIR, 'agent-credential.json');
}

export function publicUrl(env: Env): string {
  return env.PUBLIC_URL ?? `http://${env.HOST}:${env.PORT}`;
}

export interface GuardConfig {
  budget: { dailyMicros: number; monthlyMicros: number; hourlyMicros: number };
  rates: {
    userMessages: { max: number; windowMs: number };
    orgMessages: { max: number; windowMs: number };
    agentMessages: { max: number; windowMs: number };
    /** Chunks of full script output (up to 256 KiB each), counted apart from the agent's other frames. */
    agentOutputChunks: { max: number; windowMs: number };
    /** Applied to each tool's own window from the catalog. */
    windowScale: number;
  };
}

/** Budget defaults and rate limits, in the units the code uses. */
export function guardConfig(env: Env): GuardConfig {
  const micros = (usd: number) => Math.round(usd * 1_000_000);
  const scale = env.RATE_WINDOW_SCALE;
  return {
    budget: { dailyMicros: micros(env.DEFAULT_DAILY_BUDGET_USD), monthlyMicros: micros(env.DEFAULT_MONTHLY_BUDGET_USD), hourlyMicros: micros(env.DEFAULT_HOURLY_SPEND_USD) },
    rates: {
      userMessages: { max: env.RATE_USER_MESSAGES_PER_MINUTE, windowMs: Math.round(60_000 * scale) },
      orgMessages: { max: env.RATE_ORG_MESSAGES_PER_HOUR, windowMs: Math.round(3_600_000 * scale) },
      agentMessages: { max: env.RATE_AGENT_MESSAGES_PER_MINUTE, windowMs: Math.round(60_000 * scale) },
      agentOutputChunks: { max: env.RATE_AGENT_OUTPUT_CHUNKS_PER_MINUTE, windowMs: Math.round(60_000 * scale) },
      windowScale: scale,
    },
  };
}

/** The Slack app's settings, or undefined when the Slack channel is off. Both secrets or neither. */
export function slackConfig(env: Env): { botToken: string; signingSecret: string; apiUrl: string } | undefined {
  if (!env.SLACK_BOT_TOKEN && !env.SLACK_SIGNING_SECRET) return undefined;
  if (!env.SLACK_BOT_TOKEN || !env.SLACK_SIGNING_SECRET) throw new EnvError('set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or neither, to turn Slack approvals off)');
  return { botToken: env.SLACK_BOT_TOKEN, signingSecret: env.SLACK_SIGNING_SECRET, apiUrl: env.SLACK_API_URL };
}
