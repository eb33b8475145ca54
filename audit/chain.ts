/**
 * The audit log's hash chain, checked independently of the database. The trigger of migration
 * 20261121030000_audit_chain sets, on every insert, the event's place in its org's chain (`seq`), the previous
 * event's hash and its own:
 *
 *   hash = SHA-256( netstring(prevHash) netstring(seq) netstring(id) netstring(orgId) netstring(actorType)
 *                   netstring(actorId) netstring(action) netstring(target) netstring(sessionId)
 *                   netstring(createdAt as epoch ms) netstring(data as PostgreSQL renders jsonb) )
 *
 * where netstring(v) is `<bytes>:<v>`, or `-` for NULL. This module recomputes every hash in TypeScript and
 * reports the first link that does not hold: an edited field, a deleted or inserted event, or a reordered one.
 */
import { Prisma, type PrismaClient } from '@prisma/client';
import { sha256 } from '../lib/secrets';

export const GENESIS = '0'.repeat(64);

export interface ChainRow {
  id: bigint;
  orgId: string | null;
  actorType: string;
  actorId: string | null;
  action: string;
  target: string | null;
  sessionId: string | null;
  createdAt: Date;
  /** `data::text`: the jsonb exactly as PostgreSQL renders it. */
  data: string;
  seq: bigint;
  prevHash: string;
  hash: string;
}

const netstring = (v: string | null) => (v === null ? '-' : `${Buffer.byteLength(v)}:${v}`);

export function eventHash(row: Omit<ChainRow, 'hash'>): string {
  const fields = [
    row.prevHash,
    row.seq.toString(),
    row.id.toString(),
    row.orgId,
    row.actorType,
    row.actorId,
    row.action,
    row.target,
    row.sessionId,
    String(row.createdAt.getTime()),
    row.data,
  ];
  return sha256(fields.map(netstring).join(''));
}

export interface BrokenLink {
  orgId: string | null;
  seq: string;
  id: string;
  problem: string;
}

export interface ChainReport {
  orgId: string | null;
  events: number;
  /** The hash of the last event: an auditor who records it can later prove nothing before it changed. */
  head: string;
  broken: BrokenLink | null;
}

/** Checks one chain, in seq order, from the first event. Stops at the first broken link. */
export function checkChain(orgId: string | null, rows: ChainRow[]): ChainReport {
  let prev = GENESIS;
  let expectedSeq = 1n;
  for (const row of rows) {
    const at = (problem: string): ChainReport => ({
      orgId,
      events: rows.length,
      head: prev,
      broken: { orgId, seq: row.seq.toString(), id: row.id.toString(), problem },
    });
    if (row.seq !== expectedSeq) return at(`expected event #${expectedSeq} of the chain, found #${row.seq}: an event is missing or was inserted`);
    if (row.prevHash !== prev) return at('its previous-hash does not match the event before it: an earlier event was changed, removed or reordered');
    if (eventHash(row) !== row.hash) return at(`its content does not match its hash: the event (${row.action}) was changed after it was written`);
    prev = row.hash;
    expectedSeq += 1n;
  }
  return { orgId, events: rows.length, head: prev, broken: null };
}

const PAGE = 5000;

/** Audit events with everything their hash covers (`data` as PostgreSQL renders it), in chain order. */
export function readChainRows(prisma: PrismaClient, where: Prisma.Sql, limit?: number): Promise<ChainRow[]> {
  return prisma.$queryRaw<ChainRow[]>`
    SELECT id, "orgId"::text AS "orgId", "actorType", "actorId", action, target, "sessionId"::text AS "sessionId",
           "createdAt", data::text AS data, seq, "prevHash", hash
    FROM "AuditEvent" WHERE ${where} ORDER BY seq ${limit === undefined ? Prisma.empty : Prisma.sql`LIMIT ${limit}`}`;
}

/** Reads one org's chain (or the events without an org, for `null`) page by page and checks it. */
export async function verifyOrgChain(prisma: PrismaClient, orgId: string | null): Promise<ChainReport> {
  const rows: ChainRow[] = [];
  let after = 0n;
  for (;;) {
    const page = await readChainRows(prisma, Prisma.sql`"orgId" IS NOT DISTINCT FROM ${orgId}::uuid AND seq > ${after}`, PAGE);
    rows.push(...page);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  return checkChain(orgId, rows);
}

/** Every org's chain (and the chain of events without an org), or only the given org's. */
export async function verifyChains(prisma: PrismaClient, orgId?: string): Promise<ChainReport[]> {
  const orgs = orgId
    ? [orgId]
    : (await prisma.$queryRaw<{ orgId: string | null }[]>`SELECT DISTINCT "orgId"::text AS "orgId" FROM "AuditEvent"`).map((r) => r.orgId);
  const reports = [];
  for (const org of orgs) reports.push(await verifyOrgChain(prisma, org));
  return reports;
}
