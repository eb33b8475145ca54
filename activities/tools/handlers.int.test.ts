/**
 * Database tools against real PostgreSQL (row-level security on): a technician narrowed to some sites reads and
 * changes only what belongs to devices of those sites.
 */
import crypto from 'node:crypto';
import type { PrismaClient } from '@prisma/client';
import { loadEnv } from '../../lib/env';
import { createPrisma } from '../../lib/prisma';
import { tenantDb } from '../../lib/tenant-db';
import { seedDemo } from '../../prisma/seed-demo';
import { DATABASE_HANDLERS, type DatabaseContext } from './handlers';

const env = loadEnv();
const prisma = createPrisma(env.TEST_DATABASE_URL);
let orgId: string;
let mySite: string;
let ctx: (sites: string[] | null) => DatabaseContext;
const devices: Record<'mine' | 'other', string> = { mine: '', other: '' };

beforeAll(async () => {
  const acme = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme;
  orgId = acme.id;
  const [siteA, siteB] = acme.siteIds;
  mySite = siteA!;
  for (const [which, siteId] of [['mine', siteA], ['other', siteB]] as const) {
    const d = await prisma.device.create({ data: { orgId, siteId: siteId!, name: `SITE-${which}-${crypto.randomUUID().slice(0, 6)}`, hostname: which, os: 'Windows 11', executor: 'simulated' } });
    devices[which] = d.id;
  }
  const user = await prisma.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId } } } });
  ctx = (sites) => ({ prisma: tenantDb(prisma, { orgIds: [orgId] }) as PrismaClient, orgId, sites, userId: user.id, sessionId: crypto.randomUUID() });
});
afterAll(() => prisma.$disconnect());

const ack = DATABASE_HANDLERS.acknowledge_alert as { run(c: DatabaseContext, i: { alert_id: string }): Promise<{ output: unknown; summary: string }> };
const hosts = DATABASE_HANDLERS.list_discovered_hosts as { run(c: DatabaseContext, i: { cidr?: string }): Promise<{ output: { ranges: { cidr: string }[] }; summary: string }> };

it('lets a site-narrowed technician acknowledge only alerts of devices in their sites', async () => {
  const alert = (deviceId: string) => prisma.alert.create({ data: { orgId, deviceId, severity: 'critical', title: 'EDR offline', message: 'sensor stopped' } });
  const theirs = await alert(devices.other);
  const mine = await alert(devices.mine);

  expect(await ack.run(ctx([mySite]), { alert_id: theirs.id })).toMatchObject({ output: { acknowledged: false }, summary: 'no open alert with that id in the sites you work on' });
  expect((await prisma.alert.findUniqueOrThrow({ where: { id: theirs.id } })).status).toBe('open');

  expect(await ack.run(ctx([mySite]), { alert_id: mine.id })).toMatchObject({ output: { acknowledged: true }, summary: 'alert acknowledged' });
  // A technician of the whole org reaches every site.
  expect(await ack.run(ctx(null), { alert_id: theirs.id })).toMatchObject({ output: { acknowledged: true } });
});

it('shows a site-narrowed technician only the discovery scans run from devices in their sites', async () => {
  const scan = (deviceId: string, cidr: string) =>
    prisma.networkScan.create({ data: { id: `scan-${crypto.randomUUID()}`, orgId, deviceId, cidr, scanned: 256, hosts: [{ address: cidr.replace(/0\/24$/, '7'), openPorts: [22] }] } });
  await scan(devices.mine, '10.1.1.0/24');
  await scan(devices.other, '10.2.2.0/24');

  const narrowed = await hosts.run(ctx([mySite]), {});
  expect(narrowed.output.ranges.map((r) => r.cidr)).toEqual(['10.1.1.0/24']);
  expect((await hosts.run(ctx([mySite]), { cidr: '10.2.2.0/24' })).summary).toBe('no network discovery scan yet');
  expect((await hosts.run(ctx(null), {})).output.ranges.map((r) => r.cidr).sort()).toEqual(['10.1.1.0/24', '10.2.2.0/24']);
});
