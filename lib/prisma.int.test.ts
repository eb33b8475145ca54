/**
 * The database client as the api and the worker build it (createDatabase), against the test database. pg prints a
 * deprecation once per process, so the client is exercised in a process of its own that turns deprecations into
 * errors (`--throw-deprecation`), as pg 9 will.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { environment, loadEnv } from './env';
import { createDatabase, type Database } from './prisma';
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
