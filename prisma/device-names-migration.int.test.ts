/**
 * The migration that makes device names unique per organization, run against a database that has duplicates (as two
 * clones of the demo left it): in one transaction that is rolled back, the index is dropped, duplicates are written,
 * and the migration's own SQL runs. The device seen last keeps the name; the others get a suffix from their id, and
 * each rename is in the org's audit chain.
 */
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { loadEnv } from '../lib/env';

const migration = path.join(__dirname, 'migrations', '20261206040000_device_names_unique', 'migration.sql');

it('keeps the name on the device seen last and renames the others deterministically, auditing each rename', async () => {
  const db = new Client({ connectionString: loadEnv().TEST_DATABASE_URL });
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query('DROP INDEX "Device_orgId_name_key"');
    const [partner, org, site] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const sfx = crypto.randomBytes(4).toString('hex');
    await db.query(`INSERT INTO "Partner" ("id", "name", "slug") VALUES ($1, 'P', $2)`, [partner, `p-${sfx}`]);
    await db.query(`INSERT INTO "Organization" ("id", "partnerId", "name", "slug") VALUES ($1, $2, 'O', $3)`, [org, partner, `o-${sfx}`]);
    await db.query(`INSERT INTO "Site" ("id", "orgId", "name") VALUES ($1, $2, 'HQ')`, [site, org]);
    const device = async (name: string, lastSeenAt: string | null, createdAt: string) => {
      const id = crypto.randomUUID();
      await db.query(
        `INSERT INTO "Device" ("id", "orgId", "siteId", "name", "hostname", "os", "executor", "lastSeenAt", "createdAt") VALUES ($1, $2, $3, $4, 'h', 'Linux', 'linux', $5, $6)`,
        [id, org, site, name, lastSeenAt, createdAt],
      );
      return id;
    };
    const older = await device('ACME-HQ-DEMO', '2026-12-01T10:00:00Z', '2026-11-01T00:00:00Z');
    const seenLast = await device('ACME-HQ-DEMO', '2026-12-01T11:00:00Z', '2026-11-02T00:00:00Z');
    const neverSeen = await device('ACME-HQ-DEMO', null, '2026-12-02T00:00:00Z');
    const alone = await device('ACME-PC-01', null, '2026-11-01T00:00:00Z');

    await db.query(await readFile(migration, 'utf8'));

    const { rows } = await db.query<{ id: string; name: string }>(`SELECT "id", "name" FROM "Device" WHERE "orgId" = $1`, [org]);
    expect(Object.fromEntries(rows.map((r) => [r.id, r.name]))).toEqual({
      [seenLast]: 'ACME-HQ-DEMO',
      [older]: `ACME-HQ-DEMO (old ${older.slice(0, 8)})`,
      [neverSeen]: `ACME-HQ-DEMO (old ${neverSeen.slice(0, 8)})`,
      [alone]: 'ACME-PC-01',
    });
    const audited = await db.query<{ target: string; data: { deviceId: string; from: string } }>(`SELECT "target", "data" FROM "AuditEvent" WHERE "orgId" = $1 AND "action" = 'device.renamed' ORDER BY "seq"`, [org]);
    expect(audited.rows.map((r) => r.data.deviceId).sort()).toEqual([older, neverSeen].sort());
    expect(audited.rows.every((r) => r.data.from === 'ACME-HQ-DEMO')).toBe(true);
    // And from now on the database refuses a second device of that name in the org.
    await db.query('SAVEPOINT dup');
    await expect(device('ACME-HQ-DEMO', null, '2026-12-03T00:00:00Z')).rejects.toThrow(/Device_orgId_name_key/);
    await db.query('ROLLBACK TO SAVEPOINT dup');
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    await db.end();
  }
});
