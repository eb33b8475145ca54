/**
 * Demo tenants: one partner; organizations `acme` and `globex`, each with sites, groups, a technician, an
 * approver and an admin; one auditor across both. Idempotent by slug. Tests call it with a `suffix` so each test
 * file gets tenants of its own in the shared test database.
 */
import type { PrismaClient } from '@prisma/client';
import { hashPassword } from '../lib/passwords';
import { issueSecret, randomToken } from '../lib/secrets';

export interface DemoCredential {
  email: string;
  role: 'technician' | 'approver' | 'admin' | 'auditor';
  org: string;
  apiKey: string;
  /** For signing in to the web console; random, shown once like the key. */
  password: string;
}

export interface DemoSeed {
  partnerId: string;
  orgs: Record<'acme' | 'globex', { id: string; slug: string; siteIds: string[] }>;
  credentials: DemoCredential[];
}

const ORGS = [
  { key: 'acme' as const, name: 'Acme Corp', sites: [{ name: 'HQ', groups: ['Workstations', 'Servers'] }, { name: 'Warehouse', groups: ['Scanners'] }] },
  { key: 'globex' as const, name: 'Globex Inc', sites: [{ name: 'Main Office', groups: ['Workstations'] }] },
];

/** Vetted scripts every demo org starts with (run_library_script runs only these). */
const LIBRARY = [
  { name: 'flush-dns', description: 'Clear the DNS client cache', interpreter: 'powershell', body: 'Clear-DnsClientCache\nWrite-Output "DNS cache cleared"' },
  {
    name: 'clear-print-queue',
    description: 'Stop the spooler, delete stuck print jobs, start it again',
    interpreter: 'powershell',
    body: 'Stop-Service Spooler -Force\nRemove-Item "$env:SystemRoot\\System32\\spool\\PRINTERS\\*" -Force\nStart-Service Spooler',
  },
  { name: 'disk-usage', description: 'Report disk usage (Linux)', interpreter: 'bash', body: 'df -h /' },
];

export async function seedDemo(prisma: PrismaClient, opts: { suffix?: string } = {}): Promise<DemoSeed> {
  const sfx = opts.suffix ? `-${opts.suffix}` : '';
  const partnerSlug = `northwind-msp${sfx}`;
  const partner = await prisma.partner.upsert({
    where: { slug: partnerSlug },
    create: { slug: partnerSlug, name: 'Northwind MSP' },
    update: {},
  });
  const credentials: DemoCredential[] = [];
  const orgs = {} as DemoSeed['orgs'];

  const addUser = async (email: string, name: string, bindings: { orgId: string; role: DemoCredential['role'] }[], orgSlug: string) => {
    // A fresh password on every seed, as for keys; acme's admin also manages the partner (users, organizations).
    const password = randomToken(12);
    const partnerAdmin = email.startsWith('admin@acme');
    const passwordHash = await hashPassword(password);
    const user = await prisma.user.upsert({ where: { email }, create: { email, name, partnerId: partner.id, partnerAdmin, passwordHash }, update: { passwordHash } });
    for (const b of bindings) {
      await prisma.roleBinding.upsert({
        where: { userId_orgId_role: { userId: user.id, orgId: b.orgId, role: b.role } },
        create: { userId: user.id, orgId: b.orgId, role: b.role },
        update: {},
      });
    }
    // A fresh key on every seed: keys are shown once and only their hashes are stored.
    const key = issueSecret('gh');
    await prisma.apiKey.create({ data: { userId: user.id, name: 'demo', prefix: key.prefix, hash: key.hash } });
    credentials.push({ email, role: bindings[0]!.role, org: orgSlug, apiKey: key.plain, password });
  };

  for (const spec of ORGS) {
    const slug = `${spec.key}${sfx}`;
    const org = await prisma.organization.upsert({
      where: { slug },
      create: { slug, name: spec.name, partnerId: partner.id },
      update: {},
    });
    const siteIds: string[] = [];
    for (const s of spec.sites) {
      const site = await prisma.site.upsert({
        where: { orgId_name: { orgId: org.id, name: s.name } },
        create: { orgId: org.id, name: s.name },
        update: {},
      });
      siteIds.push(site.id);
      for (const g of s.groups) {
        await prisma.deviceGroup.upsert({
          where: { siteId_name: { siteId: site.id, name: g } },
          create: { orgId: org.id, siteId: site.id, name: g },
          update: {},
        });
      }
    }
    orgs[spec.key] = { id: org.id, slug, siteIds };
    for (const script of LIBRARY) {
      await prisma.script.upsert({ where: { orgId_name: { orgId: org.id, name: script.name } }, create: { orgId: org.id, ...script }, update: {} });
    }
    for (const role of ['technician', 'approver', 'admin'] as const) {
      await addUser(`${role}@${slug}.example`, `${spec.name} ${role}`, [{ orgId: org.id, role }], slug);
    }
  }
  await addUser(
    `auditor@${partnerSlug}.example`,
    'Northwind auditor',
    Object.values(orgs).map((o) => ({ orgId: o.id, role: 'auditor' as const })),
    '*',
  );
  return { partnerId: partner.id, orgs, credentials };
}

/** A site-scoped enrollment key; the plain key is returned once. */
export async function createEnrollmentKey(
  prisma: PrismaClient,
  opts: { orgId: string; siteId: string; maxUses?: number; ttlMinutes?: number },
): Promise<string> {
  const key = issueSecret('ghe');
  await prisma.enrollmentKey.create({
    data: {
      orgId: opts.orgId,
      siteId: opts.siteId,
      prefix: key.prefix,
      hash: key.hash,
      maxUses: opts.maxUses ?? 1,
      expiresAt: new Date(Date.now() + (opts.ttlMinutes ?? 60) * 60_000),
    },
  });
  return key.plain;
}
