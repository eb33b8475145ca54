/**
 * The database client as the api and the worker build it (createDatabase), against the test database. pg prints a
 * deprecation once per process, so the client is exercised in a process of its own that turns deprecations into
 * errors (`--throw-deprecation`), as pg 9 will. And the tenant fence on a pooled `pg` connection
 * (`tenantPoolTransaction`), as the approver's decision uses it.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { environment, loadEnv } from './env';
import { Pool } from 'pg';
import { createDatabase, type Database } from './prisma';
import { APP_ROLE, tenantPoolTransaction } from './tenant-db';
import { seedDemo, type DemoSeed } from '../prisma/seed-demo';

const root = path.resolve(__dirname, '..');
const env = loadEnv(environment({ NODE_ENV: 'test' }));
let db: Database;
let seed: DemoSeed;

beforeAll(async () => {
  db = createDatabase(env.TEST_DATABASE_URL);
  seed = await seedDemo(db.prisma, { suffix: crypto.randomBytes(4).toString('hex') });
  const { id: orgId, siteIds } = seed.orgs.acme;
  await db.prisma.device.create({ data: { orgId, siteId: siteIds[0]!, name: 'ACME-HQ-PC-01', hostname: 'pc-01', os: 'Windows 11', executor: 'simulated' } });
}, 60_000);

afterAll(async () => {
  await db?.prisma.$disconnect();
});

it("reads a device with its organization, site and group in a tenant transaction without pg's overlapping-query deprecation", async () => {
  // GET /v1/devices reads exactly this through tenantDb: one transaction, three relations loaded side by side.
  const script = `
    const { createDatabase } = require('./lib/prisma');
    const { tenantDb } = require('./lib/tenant-db');
    const orgId = process.argv[1];
    const { prisma } = createDatabase(process.env.TEST_DATABASE_URL);
    tenantDb(prisma, { orgIds: [orgId] })
      .device.findMany({ where: { orgId }, include: { org: true, site: true, group: true } })
      .then((devices) => console.log(JSON.stringify(devices.map((d) => [d.name, d.org.slug, d.site.name, d.group]))))
      .finally(() => prisma.$disconnect());
  `;
  const run = promisify(execFile);
  const { stdout, stderr } = await run(process.execPath, ['--throw-deprecation', '--import', 'tsx', '-e', script, seed.orgs.acme.id], {
    cwd: root,
    env: environment({ TEST_DATABASE_URL: env.TEST_DATABASE_URL }),
  }).catch((err: { stdout: string; stderr: string }) => err);
  expect(stderr).not.toMatch(/DeprecationWarning/);
  expect(JSON.parse(stdout)).toEqual([['ACME-HQ-PC-01', seed.orgs.acme.slug, 'HQ', null]]);
}, 60_000);

it('fences a pooled pg transaction as tenantTransaction does: the scope\'s rows only, a write elsewhere refused, nothing left after it', async () => {
  const acme = seed.orgs.acme;
  const globex = seed.orgs.globex;
  // One connection, so the read after each transaction is on the connection the transaction used.
  const pool = new Pool({ connectionString: env.TEST_DATABASE_URL, max: 1 });
  try {
    const seen = await tenantPoolTransaction(pool, { orgIds: [acme.id] }, async (c) => (await c.query<{ orgId: string; role: string }>('SELECT DISTINCT "orgId"::text AS "orgId", current_user AS "role" FROM "Site"')).rows);
    expect(seen).toEqual([{ orgId: acme.id, role: APP_ROLE }]);
    await expect(
      tenantPoolTransaction(pool, { orgIds: [acme.id] }, (c) => c.query(`INSERT INTO "Site" ("id", "orgId", "name") VALUES (gen_random_uuid(), $1::uuid, 'planted')`, [globex.id])),
    ).rejects.toThrow(/row-level security/);
    expect(await db.prisma.site.count({ where: { orgId: globex.id, name: 'planted' } })).toBe(0);
    // Settings that are not UUIDs are refused before anything is sent.
    await expect(tenantPoolTransaction(pool, { orgIds: ["x', true); SELECT 1; --"] }, async () => 1)).rejects.toThrow();
    // No organization: nothing at all.
    expect(await tenantPoolTransaction(pool, { orgIds: [] }, async (c) => (await c.query('SELECT count(*)::int AS "n" FROM "Site"')).rows[0])).toEqual({ n: 0 });
    // Role and scope were the transaction's own (SET LOCAL): the pooled connection is the owner's again.
    const { rows } = await pool.query<{ role: string; orgs: string | null }>(`SELECT current_user AS "role", current_setting('app.org_ids', true) AS "orgs"`);
    expect(rows[0]!.role).not.toBe(APP_ROLE);
    expect(rows[0]!.orgs ?? '').toBe('');
  } finally {
    await pool.end();
  }
});
