/**
 * Everything `npm start` and `npm test` need besides npm packages, made idempotent and quick when present:
 * the Temporal CLI (built once with `go install` into a cache outside the clone), Jaeger (built once the same way,
 * for traces), PostgreSQL and Redis (started
 * when installed locally but down), the databases, the Prisma client and the migrations.
 * When something cannot be had, one line names it and how to get it, and the exit code is non-zero.
 *
 *   tsx scripts/setup.ts          # for `npm start`: the gatehouse database
 *   tsx scripts/setup.ts --test   # for `npm test`: the gatehouse_test database as well
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { canConnect, waitForPort } from '../lib/tcp';
import { environment, JAEGER_VERSION, jaegerPath, loadEnvOrExit, temporalCliPath, TEMPORAL_CLI_VERSION, type Env } from '../lib/env';

const root = path.resolve(__dirname, '..');

class SetupError extends Error {}

function say(line: string): void {
  console.log(`setup: ${line}`);
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const isLoopback = (host: string) => ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);

function ensureTemporalCli(env: Env): void {
  const bin = temporalCliPath(env);
  if (existsSync(bin)) return;
  if (env.TEMPORAL_CLI_PATH) throw new SetupError(`TEMPORAL_CLI_PATH points at ${bin}, which does not exist.`);
  if (!hasCommand('go')) {
    throw new SetupError(
      `the Temporal CLI is missing and Go is not installed to build it; install Go (https://go.dev/dl) or set TEMPORAL_CLI_PATH to a temporal ${TEMPORAL_CLI_VERSION} binary.`,
    );
  }
  say(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (first time only; a few minutes)…`);
  mkdirSync(path.dirname(bin), { recursive: true });
  const result = spawnSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
    env: environment({ GOBIN: path.dirname(bin) }),
    stdio: 'inherit',
  });
  if (result.status !== 0 || !existsSync(bin)) {
    throw new SetupError(`go install of the Temporal CLI ${TEMPORAL_CLI_VERSION} failed; see the Go output above.`);
  }
}

/**
 * Jaeger's all-in-one binary (the trace backend of `npm start` and of the tracing test), built once per machine into
 * the cache like the Temporal CLI. Its go.mod has `replace` directives, so `go install …@version` refuses it: it is
 * built inside a throwaway module instead. `npm start` runs without traces when it cannot be had (one line says
 * so); the tests need it.
 */
function ensureJaeger(env: Env, required: boolean): void {
  const bin = jaegerPath(env);
  if (existsSync(bin)) return;
  if (env.JAEGER_PATH) throw new SetupError(`JAEGER_PATH points at ${bin}, which does not exist.`);
  const missing = (why: string) => {
    if (required) throw new SetupError(`${why}; the tracing test needs Jaeger ${JAEGER_VERSION} (or set JAEGER_PATH to one).`);
    say(`${why}; npm start runs without traces (set JAEGER_PATH to a Jaeger ${JAEGER_VERSION} binary to have them).`);
  };
  if (!hasCommand('go')) return missing('Jaeger is missing and Go is not installed to build it (https://go.dev/dl)');
  say(`building Jaeger ${JAEGER_VERSION} with go (first time only; about 6 minutes)…`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-jaeger-build-'));
  const go = (args: string[]) => spawnSync('go', args, { cwd: work, stdio: 'inherit' }).status === 0;
  try {
    // Built next to its place and renamed into it: an interrupted build never leaves a binary that looks whole. The
    // partial file is this process's own: two setups on one machine (two clones' `npm test`) each build their own,
    // and the first to finish puts it in place (a shared name let one rename the other's file away mid-build).
    mkdirSync(path.dirname(bin), { recursive: true });
    const built = `${bin}.${process.pid}.partial`;
    const ok =
      go(['mod', 'init', 'gatehouse.local/jaeger-build']) &&
      go(['get', '-tool', `github.com/jaegertracing/jaeger/cmd/jaeger@${JAEGER_VERSION}`]) &&
      go(['build', '-o', built, 'github.com/jaegertracing/jaeger/cmd/jaeger']);
    if (ok && existsSync(built)) renameSync(built, bin);
    else rmSync(built, { force: true });
    if (!existsSync(bin)) return missing(`building Jaeger ${JAEGER_VERSION} failed (see the Go output above)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function ensurePostgres(env: Env): Promise<void> {
  const { hostname, port } = new URL(env.DATABASE_URL);
  const p = Number(port || 5432);
  if (await canConnect(hostname, p)) return;
  if (!isLoopback(hostname)) throw new SetupError(`PostgreSQL at ${hostname}:${p} (DATABASE_URL) is not reachable.`);
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  if (!hasCommand('pg_ctlcluster') || versions.length === 0) {
    throw new SetupError('PostgreSQL is not installed; install it (apt-get install postgresql) or set DATABASE_URL.');
  }
  say(`starting PostgreSQL ${versions[0]}…`);
  spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0]!, 'main', 'start'], { stdio: 'inherit' });
  if (!(await waitForPort(hostname, p, { seconds: 20 }))) throw new SetupError('PostgreSQL did not start; see `pg_lsclusters`.');
}

async function ensureRedis(env: Env): Promise<void> {
  const { hostname, port } = new URL(env.REDIS_URL);
  const p = Number(port || 6379);
  if (await canConnect(hostname, p)) return;
  if (!isLoopback(hostname)) throw new SetupError(`Redis at ${hostname}:${p} (REDIS_URL) is not reachable.`);
  if (!hasCommand('redis-server')) {
    throw new SetupError('Redis is not installed; install it (apt-get install redis-server) or set REDIS_URL.');
  }
  say('starting Redis…');
  spawnSync(
    'redis-server',
    ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(p), '--save', '', '--appendonly', 'no'],
    { stdio: 'inherit' },
  );
  if (!(await waitForPort(hostname, p, { seconds: 10 }))) throw new SetupError('Redis did not start; run redis-server by hand to see why.');
}

async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-zA-Z0-9_]+$/.test(name)) throw new SetupError(`database name "${name}" must be letters, digits and _.`);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      say(`creating database ${name}`);
      await client.query(`CREATE DATABASE "${name}"`);
    }
    await ensureAppRole(client);
  } finally {
    await client.end();
  }
}

/**
 * The role request handling runs as (row-level security; the tenancy migration grants it). Roles belong to the
 * whole server, not to one database: two databases migrated at once (two clones' test runs) would both see it
 * missing and both create it, and the second migration would fail half-applied. Made here first, so the
 * migration's own `IF NOT EXISTS` finds it; a concurrent creation of the same role counts as made.
 */
async function ensureAppRole(client: InstanceType<typeof Client>): Promise<void> {
  try {
    await client.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gatehouse_app') THEN CREATE ROLE gatehouse_app NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF;
    END $$`);
  } catch (err) {
    // 23505: the catalog's unique index saw the other creation first; 42710: it finished before ours began.
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42710') throw err;
  }
}

// The Prisma CLI would download native engines it never uses with the JS engine and the pg adapter; pointing
// these at an existing file stops that (../shared/design/toolchain.md).
const prismaEnv = (databaseUrl: string) =>
  environment({
    DATABASE_URL: databaseUrl,
    PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
    PRISMA_QUERY_ENGINE_LIBRARY: process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  });

function prisma(args: string[], databaseUrl: string): string {
  const bin = path.join(root, 'node_modules', '.bin', 'prisma');
  try {
    return execFileSync(bin, args, { cwd: root, env: prismaEnv(databaseUrl), encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new SetupError(`prisma ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

function ensurePrismaClient(databaseUrl: string): void {
  const schema = readFileSync(path.join(root, 'prisma', 'schema.prisma'));
  const hash = crypto.createHash('sha256').update(schema).digest('hex');
  const marker = path.join(root, 'node_modules', '.prisma', 'client', '.gatehouse-schema-hash');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === hash) return;
  say('generating the Prisma client');
  prisma(['generate'], databaseUrl);
  writeFileSync(marker, hash);
}

/** Migrations on disk that the database has not finished; checked directly because the Prisma CLI is slow here. */
async function pendingMigrations(databaseUrl: string): Promise<string[]> {
  const onDisk = readdirSync(path.join(root, 'prisma', 'migrations'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const table = await client.query("SELECT to_regclass('public._prisma_migrations') AS t");
    if (!table.rows[0]?.t) return onDisk;
    const done = await client.query(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const applied = new Set(done.rows.map((r: { migration_name: string }) => r.migration_name));
    return onDisk.filter((name) => !applied.has(name));
  } finally {
    await client.end();
  }
}

async function migrate(databaseUrl: string): Promise<void> {
  if ((await pendingMigrations(databaseUrl)).length === 0) return;
  const out = prisma(['migrate', 'deploy'], databaseUrl);
  const applied = out.match(/following migration\(s\) have been applied:[\s\S]*/);
  if (applied) say(`applied migrations to ${new URL(databaseUrl).pathname.slice(1)}`);
}

/** The browser tests drive Debian's Chromium (playwright-core brings no browser): installed when missing. */
function ensureChromium(env: Env): void {
  if (existsSync(env.CHROMIUM_PATH)) return;
  if (!hasCommand('apt-get')) throw new SetupError(`Chromium is missing at ${env.CHROMIUM_PATH} (CHROMIUM_PATH) and apt-get is not available to install it.`);
  say('installing Chromium for the browser tests (apt-get install chromium; first time only)…');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const result = spawnSync(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '--no-install-recommends', 'chromium'], {
    env: environment({ DEBIAN_FRONTEND: 'noninteractive' }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0 || !existsSync(env.CHROMIUM_PATH)) {
    throw new SetupError(`apt-get install chromium failed; install it yourself or set CHROMIUM_PATH to a Chromium binary.`);
  }
}

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const forTests = process.argv.includes('--test');
  mkdirSync(env.DATA_DIR, { recursive: true });
  ensureTemporalCli(env);
  ensureJaeger(env, forTests);
  await ensurePostgres(env);
  await ensureRedis(env);
  if (forTests) ensureChromium(env);
  const databases = forTests ? [env.TEST_DATABASE_URL] : [env.DATABASE_URL];
  for (const db of databases) await ensureDatabase(db);
  ensurePrismaClient(databases[0]!);
  for (const db of databases) await migrate(db);
}

main().catch((err: unknown) => {
  if (err instanceof SetupError) {
    console.error(`setup: ${err.message}`);
  } else {
    console.error('setup: unexpected failure', err);
  }
  process.exit(1);
});
