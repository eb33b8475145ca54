/**
 * The org's policy versions (docs/policy.md), read and written in one place for the api and the worker. The current
 * policy is the highest-numbered PolicyVersion row of the org; none is version 0, the defaults. A parsed document
 * is kept per org and version number, so live authorization reads one small row (the latest number) per call and
 * parses a document once; a new version has a new number, which is the invalidation, on every node at once. A
 * stored document that does not parse throws: every caller denies (fail closed), never runs with half a policy.
 * Versions are written by the api only (api/services/policy.ts appendVersion).
 */
import type { Prisma } from '@prisma/client';
import { DEFAULT_DOCUMENT, PolicyDocument, type PolicyVersionKind } from '../common/policy-document';
import type { PrismaClient } from './prisma';

type Db = PrismaClient | Prisma.TransactionClient;

export interface PolicyVersionRow {
  number: number;
  document: PolicyDocument;
  kind: PolicyVersionKind | 'defaults';
  reason: string;
  createdBy: string | null;
  createdAt: Date;
}

/** Thrown when a stored document does not read as a policy: the caller denies. */
export class PolicyUnreadable extends Error {}

const CACHE_CAP = 2000;
const parsed = new Map<string, PolicyDocument>();

/** A stored document, parsed once per org and version. */
export function parseStored(orgId: string, number: number, raw: unknown): PolicyDocument {
  const key = `${orgId}:${number}`;
  const hit = parsed.get(key);
  if (hit) return hit;
  const doc = PolicyDocument.safeParse(raw);
  if (!doc.success) throw new PolicyUnreadable(`policy version ${number} of the organization cannot be read: ${doc.error.issues[0]?.message ?? 'invalid'}`);
  if (parsed.size >= CACHE_CAP) parsed.delete(parsed.keys().next().value!);
  parsed.set(key, doc.data);
  return doc.data;
}

const defaults = (createdAt: Date): PolicyVersionRow => ({ number: 0, document: DEFAULT_DOCUMENT, kind: 'defaults', reason: 'the defaults (no policy saved yet)', createdBy: null, createdAt });

/** The policy in force for the org: its highest version, or the defaults. Throws PolicyUnreadable on a damaged one. */
export async function currentPolicy(db: Db, orgId: string): Promise<PolicyVersionRow> {
  const head = await db.policyVersion.findFirst({ where: { orgId }, orderBy: { number: 'desc' }, select: { number: true, kind: true, reason: true, createdBy: true, createdAt: true } });
  if (!head) return defaults(new Date(0));
  const cached = parsed.get(`${orgId}:${head.number}`);
  const document = cached ?? parseStored(orgId, head.number, (await db.policyVersion.findUniqueOrThrow({ where: { orgId_number: { orgId, number: head.number } }, select: { document: true } })).document);
  return { ...head, kind: head.kind as PolicyVersionKind, document };
}

/**
 * Throws PolicyUnreadable unless version `number` of the org (0: the defaults) reads as a policy. For a statement that
 * read part of the policy in SQL (the budget reservation, lib/budget.ts): the whole version must still parse, as for
 * any other reader, or the caller denies. Parsed once per process and version, like every read here.
 */
export async function assertReadable(db: Db, orgId: string, number: number): Promise<void> {
  if (number === 0 || parsed.has(`${orgId}:${number}`)) return;
  const row = await db.policyVersion.findUnique({ where: { orgId_number: { orgId, number } }, select: { document: true } });
  if (!row) throw new PolicyUnreadable(`policy version ${number} of the organization cannot be read: it is not there`);
  parseStored(orgId, number, row.document);
}

/**
 * The document of version `number` of the org (0: the defaults), for a caller that read the head's number with other
 * rows in one statement: parsed once per process and version, read only when not yet parsed. Throws PolicyUnreadable
 * when it is not there or does not parse, as currentPolicy does.
 */
export async function documentOf(db: Db, orgId: string, number: number): Promise<PolicyDocument> {
  if (number === 0) return DEFAULT_DOCUMENT;
  const hit = parsed.get(`${orgId}:${number}`);
  if (hit) return hit;
  const row = await db.policyVersion.findUnique({ where: { orgId_number: { orgId, number } }, select: { document: true } });
  if (!row) throw new PolicyUnreadable(`policy version ${number} of the organization cannot be read: it is not there`);
  return parseStored(orgId, number, row.document);
}

/** One version of the org's policy (0: the defaults), or null when there is none with that number. */
export async function policyVersion(db: Db, orgId: string, number: number): Promise<PolicyVersionRow | null> {
  if (number === 0) return defaults(new Date(0));
  const row = await db.policyVersion.findUnique({ where: { orgId_number: { orgId, number } } });
  if (!row) return null;
  return { number, document: parseStored(orgId, number, row.document), kind: row.kind as PolicyVersionKind, reason: row.reason, createdBy: row.createdBy, createdAt: row.createdAt };
}

/** The standing rules of a document that still let calls through at `at`. */
export function liveStanding(doc: PolicyDocument, at: Date) {
  return doc.standing.filter((r) => Date.parse(r.expiresAt) > at.getTime());
}
