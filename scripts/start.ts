/**
 * `npm start`: the whole system on this machine. Temporal dev server (persisted under data/, Web UI on), Jaeger for
 * traces (when the set-up could build it), the offline model (when no ANTHROPIC_API_KEY is set), the api, the worker and one agent enrolled for `acme` running
 * the real Linux executor, plus SIMULATED_DEVICES simulated Windows-like endpoints. Ctrl-C stops every process it started. A process that dies is reported, not restarted,
 * and the rest keep running (restart it with its own npm script, e.g. `npm run worker`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { prettyFactory } from 'pino-pretty';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { agentCredentialsPath, environment, jaegerPath, loadEnvOrExit, modelEndpoint, publicUrl, temporalCliPath, type Env } from '../lib/env';
import { jaegerConfig, type JaegerPorts } from '../lib/jaeger';
import { devPayloadKeysFile, payloadCodecFromEnv } from '../lib/payload-codec';
import { createPrisma, type PrismaClient } from '../lib/prisma';
import { canConnect, waitForPort } from '../lib/tcp';
import { DEV_SERVER_ARGS } from '../lib/temporal';
import { AgentCredentials } from '../agent/credentials';
import { createEnrollmentKey, seedDemo, type DemoCredential } from '../prisma/seed-demo';
import { sealSecret } from '../lib/sealed-secret';
import type { PayloadCodec } from '@temporalio/common';
import crypto from 'node:crypto';

const root = path.resolve(__dirname, '..');
// `node --import tsx` keeps each service one process, so a signal sent to it reaches the service itself.
const node = process.execPath;
const ts = (file: string, ...args: string[]) => ['--import', 'tsx', path.join(root, file), ...args];
const children: { name: string; proc: ChildProcess }[] = [];
let stopping = false;

async function waitForService(name: string, host: string, port: number, seconds: number): Promise<void> {
  if (!(await waitForPort(host, port, { seconds }))) {
    throw new Error(`${name} did not start listening on ${host}:${port} within ${seconds}s; see its output above`);
  }
}

// Colors only on a terminal: piped into a file or a CI log, lines stay plain text.
const colorful = Boolean(process.stdout.isTTY);
const PROCESS_COLORS = [36, 35, 33, 32, 34, 91, 96];
/**
 * The processes log pino JSON, as in production; here each JSON line is printed as one readable line
 * (pino-pretty: time, level, message, then the fields), after the process's name in its own color. Lines that are
 * not pino's (the Temporal CLI's, a crash's stack) pass through as they are.
 */
const pretty = prettyFactory({ colorize: colorful, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' });
function readable(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    return pretty(JSON.parse(line) as object).trimEnd();
  } catch {
    return line;
  }
}

/** Variables every Gatehouse process gets on top of this one's (the trace endpoint, when Jaeger runs). */
const childEnv: Record<string, string> = {};

function run(name: string, cmd: string, args: string[]): ChildProcess {
  const proc = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: environment(childEnv) });
  const label = `[${name}]`.padEnd(11);
  const prefix = colorful ? `\x1b[${PROCESS_COLORS[children.length % PROCESS_COLORS.length]}m${label}\x1b[0m` : label;
  const pipe = (stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream) => {
    let buf = '';
    stream?.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) out.write(`${prefix} ${readable(line)}\n`);
    });
  };
  pipe(proc.stdout, process.stdout);
  pipe(proc.stderr, process.stderr);
  proc.on('exit', (code, signal) => {
    if (!stopping) console.error(`${prefix} exited (${signal ?? `code ${code}`}); the rest keep running. Start it again with its npm script.`);
  });
  children.push({ name, proc });
  return proc;
}

/**
 * Jaeger (traces) on loopback, unless OTEL_EXPORTER_OTLP_ENDPOINT already names a collector. Without its binary
 * (the set-up builds it when Go is installed) one line says so and everything else runs, untraced. Returns the
 * address of its UI and query API, or a line saying where traces go.
 */
async function startJaeger(env: Env): Promise<string> {
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `spans go to ${env.OTEL_EXPORTER_OTLP_ENDPOINT} (OTEL_EXPORTER_OTLP_ENDPOINT)`;
  const bin = jaegerPath(env);
  if (!existsSync(bin)) {
    console.log(`start: no Jaeger at ${bin} (the set-up builds it when Go is installed); running without traces.`);
    return 'off (no Jaeger binary)';
  }
  const ports: JaegerPorts = { otlpHttp: 4318, ui: env.JAEGER_UI_PORT, queryGrpc: 16685 };
  for (const port of [ports.otlpHttp, ports.ui, ports.queryGrpc]) {
    if (await canConnect('127.0.0.1', port)) {
      console.log(`start: port ${port} is taken, so Jaeger cannot start; running without traces (or set OTEL_EXPORTER_OTLP_ENDPOINT to a collector).`);
      return `off (port ${port} taken)`;
    }
  }
  const config = path.join(env.DATA_DIR, 'jaeger.yaml');
  await writeFile(config, jaegerConfig(ports, env.JAEGER_UI_ASSETS));
  run('jaeger', bin, ['--config', `file:${config}`]);
  await waitForService('Jaeger', '127.0.0.1', ports.otlpHttp, 30);
  childEnv.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${ports.otlpHttp}`;
  return `http://127.0.0.1:${ports.ui}`;
}

function runToEnd(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function ensureSeed(env: Env, prisma: PrismaClient): Promise<void> {
  const file = path.join(env.DATA_DIR, 'demo-credentials.json');
  const acme = await prisma.organization.findUnique({ where: { slug: 'acme' } });
  if (acme && existsSync(file)) return;
  const seed = await seedDemo(prisma);
  await writeFile(file, JSON.stringify(seed.credentials, null, 2), { mode: 0o600 });
  console.log(`\nSeeded demo tenants. These API keys and console passwords are shown once (also saved to ${path.relative(root, file)}):`);
  for (const c of seed.credentials as DemoCredential[]) console.log(`  ${c.role.padEnd(10)} ${c.org.padEnd(7)} ${c.email.padEnd(32)} ${c.apiKey}  password ${c.password}`);
  console.log('');
}

const DEMO_SSO_USER = 'approver@acme.example';
const DEMO_SSO_CLIENT = 'gatehouse-demo';

/**
 * The local OpenID provider (ops/oidc-provider) with one demo user, the acme approver, registered as the demo
 * partner's identity provider. Its client secret and the user's password are made once, into DATA_DIR (0600), as the
 * other demo secrets are; the secret is stored in the database sealed with the payload keys.
 */
async function startDemoProvider(env: Env, prisma: PrismaClient, codec: PayloadCodec, console_: string): Promise<{ issuer: string; email: string; password: string } | undefined> {
  if (await canConnect('127.0.0.1', env.OIDC_DEMO_PORT)) {
    console.log(`start: port ${env.OIDC_DEMO_PORT} is taken, so the demo identity provider cannot start; sign in with a password (or set OIDC_DEMO_PORT).`);
    return undefined;
  }
  const secretsFile = path.join(env.DATA_DIR, 'oidc-demo.json');
  if (!existsSync(secretsFile)) {
    const fresh = { clientSecret: crypto.randomBytes(32).toString('base64url'), password: crypto.randomBytes(9).toString('base64url') };
    await writeFile(secretsFile, JSON.stringify(fresh, null, 2), { mode: 0o600 });
  }
  const secrets = JSON.parse(await readFile(secretsFile, 'utf8')) as { clientSecret: string; password: string };
  const issuer = `http://127.0.0.1:${env.OIDC_DEMO_PORT}`;
  const configFile = path.join(env.DATA_DIR, 'oidc-provider.json');
  const config = {
    host: '127.0.0.1',
    port: env.OIDC_DEMO_PORT,
    clients: [{ clientId: DEMO_SSO_CLIENT, clientSecret: secrets.clientSecret, redirectUris: [`${console_}/signin/oidc/callback`] }],
    users: [{ email: DEMO_SSO_USER, password: secrets.password, name: 'Acme approver (SSO)', emailVerified: true }],
  };
  await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  run('oidc', node, ts('ops/oidc-provider/main.ts', '--config', configFile));
  await waitForService('OpenID provider', '127.0.0.1', env.OIDC_DEMO_PORT, 30);

  const user = await prisma.user.findUnique({ where: { email: DEMO_SSO_USER } });
  if (!user) return undefined;
  const clientSecret = await sealSecret(codec, secrets.clientSecret);
  const existing = await prisma.oidcProvider.findFirst({ where: { partnerId: user.partnerId, issuer } });
  if (existing) await prisma.oidcProvider.update({ where: { id: existing.id }, data: { clientId: DEMO_SSO_CLIENT, clientSecret } });
  else await prisma.oidcProvider.create({ data: { partnerId: user.partnerId, name: 'Demo SSO (local)', issuer, clientId: DEMO_SSO_CLIENT, clientSecret, emailDomains: [] } });
  return { issuer, email: DEMO_SSO_USER, password: secrets.password };
}

/** Enrolls this machine's agent for acme (HQ site) unless a valid credential is already on disk. */
async function ensureAgentEnrolled(env: Env, prisma: PrismaClient, server: string): Promise<string> {
  const file = agentCredentialsPath(env);
  if (existsSync(file)) {
    const creds = AgentCredentials.safeParse(JSON.parse(await readFile(file, 'utf8')));
    // A credential from before signed commands has no server key: enroll again rather than refuse every command.
    if (creds.success && creds.data.commandKey && (await prisma.device.findUnique({ where: { id: creds.data.deviceId } }))) return file;
  }
  const acme = await prisma.organization.findUniqueOrThrow({ where: { slug: 'acme' }, include: { sites: { where: { name: 'HQ' } } } });
  const key = await createEnrollmentKey(prisma, { orgId: acme.id, siteId: acme.sites[0]!.id, maxUses: 1, ttlMinutes: 10 });
  await runToEnd(node, ts('agent/main.ts', 'enroll', '--server', server, '--key', key, '--name', 'ACME-HQ-DEMO', '--credentials', file));
  return file;
}

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const server = publicUrl(env);
  if (await canConnect(env.HOST, env.PORT)) {
    throw new Error(`port ${env.PORT} is already in use (is Gatehouse already running?); stop it or set PORT`);
  }
  // Made here, before the api and the worker start, so both read the same dev key (production: PAYLOAD_KEYS).
  const payloadCodec = payloadCodecFromEnv(env);
  const payloadKeyId = payloadCodec.keyId;
  // Where people open the console: localhost, since browsers refuse an IP address for passkeys. The api learns it
  // too, for the single sign-on redirect URI (the sign-in must come back to the host its cookies are on).
  const consoleUrl = env.PUBLIC_URL ?? server.replace('127.0.0.1', 'localhost');
  if (!env.PUBLIC_URL) childEnv.PUBLIC_URL = consoleUrl;
  const prisma = createPrisma(env.DATABASE_URL);
  await ensureSeed(env, prisma);

  const [temporalHost, temporalPort] = env.TEMPORAL_ADDRESS.split(':') as [string, string];
  const localTemporal = ['127.0.0.1', 'localhost'].includes(temporalHost);
  if (localTemporal && !(await canConnect(temporalHost, Number(temporalPort)))) {
    run('temporal', temporalCliPath(env), [
      'server', 'start-dev',
      '--db-filename', path.join(env.DATA_DIR, 'temporal.db'),
      '--ip', temporalHost, '--port', temporalPort,
      '--ui-port', String(env.TEMPORAL_UI_PORT),
      // The UI asks the api to decrypt payloads (api/routes/codec.ts) for a signed-in auditor or partner admin.
      '--ui-codec-endpoint', `${server}/codec`,
      '--namespace', env.TEMPORAL_NAMESPACE,
      '--log-level', 'warn',
      ...DEV_SERVER_ARGS,
    ]);
    await waitForService('Temporal', temporalHost, Number(temporalPort), 60);
  }
  const traces = await startJaeger(env);
  if (modelEndpoint(env).offline) {
    run('model', node, ts('offline-model/main.ts'));
    await waitForService('offline model', '127.0.0.1', env.OFFLINE_MODEL_PORT, 30);
  }
  const sso = await startDemoProvider(env, prisma, payloadCodec, consoleUrl);
  run('api', node, ts('api/main.ts'));
  run('worker', node, ts('worker/main.ts'));
  await waitForService('api', env.HOST, env.PORT, 60);

  const credentials = await ensureAgentEnrolled(env, prisma, server);
  run('agent', node, ts('agent/main.ts', '--credentials', credentials));
  if (env.SIMULATED_DEVICES > 0) run('simulated', node, ts('agent/main.ts', '--simulate', String(env.SIMULATED_DEVICES), '--org', 'acme', '--server', server));
  await prisma.$disconnect();

  console.log(`
Gatehouse is running.
  API         ${server}  (OpenAPI: ${server}/openapi.json; liveness ${server}/healthz, readiness ${server}/readyz)
  Console     ${consoleUrl}  (sign in with single sign-on, below, or a demo user's password from ${path.relative(root, path.join(env.DATA_DIR, 'demo-credentials.json'))})
              approving a T4 call needs a passkey: open the console at ${consoleUrl} (browsers refuse an IP address
              for passkeys) and register one under Passkeys
  SSO         ${sso ? `${sso.issuer} (the demo identity provider): in the console choose "Sign in with single sign-on",
              enter ${sso.email}, then at the provider ${sso.email} with password ${sso.password}
              (also in ${path.relative(root, path.join(env.DATA_DIR, 'oidc-demo.json'))})` : 'not started (see above)'}
  Metrics     http://${env.METRICS_HOST}:${env.API_METRICS_PORT}/metrics (api), http://${env.METRICS_HOST}:${env.WORKER_METRICS_PORT}/metrics (worker); dashboard: ops/grafana-dashboard.json
  Temporal UI ${env.TEMPORAL_UI_URL}
              payloads are encrypted (key ${payloadKeyId}${env.PAYLOAD_KEYS ? ' of PAYLOAD_KEYS' : ` in ${path.relative(root, devPayloadKeysFile(env))}`}); to read them in the UI, sign in to the
              console as the auditor, then in the UI's Codec Server settings choose "Use my browser setting",
              enter ${server}/codec and tick "Include cross-origin credentials"
  Traces      ${traces}${traces.startsWith('http') ? ` (each request's trace, every hop on one waterfall; Jaeger's query API under /api)` : ''}
  Model       ${modelEndpoint(env).offline ? `offline model at ${modelEndpoint(env).baseURL}` : 'Anthropic'}
Try:  npm run copilot -- ask "what is the hostname and uptime of the demo device?"
      npm run copilot -- ask "restart the Spooler service on ACME-PC-01"     (T3: waits for an approver)
      npm run copilot -- approvals        then   npm run copilot -- approve <id>
Ctrl-C stops everything.
`);
}

async function shutdown(code: number): Promise<never> {
  stopping = true;
  for (const { proc } of children) if (proc.exitCode === null) proc.kill('SIGTERM');
  const deadline = Date.now() + 8000;
  while (children.some((c) => c.proc.exitCode === null && c.proc.signalCode === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const { proc } of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  process.exit(code);
}

process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));
main().catch((err: unknown) => {
  console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
  void shutdown(1);
});
