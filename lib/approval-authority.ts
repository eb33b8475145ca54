/**
 * Who may decide an approval. One rule, used by every place that lists, notifies, decides or verifies a decision
 * (GET /v1/approvals, the e-mail and Slack notices, the decision service behind every channel, and the activity
 * that checks a signalled or last-moment decision before the workflow acts on it):
 *
 * - an approver of the approval's organization whose sites cover every target device of the call; an approval
 *   with no device targets, or with a target whose site cannot be found, needs an approver of the whole org;
 * - for a T4 approval, nobody who authored a turn of that session (the session's owner, whoever posted into it,
 *   whoever a call of it was requested by): one person must never both ask for a dangerous call and approve it;
 *   nor anyone an author vouched for — whose password an author chose, or who signed in through an identity
 *   provider an author registered (either way the author could sign in as them), or whose approver role in the org
 *   an author granted — so an admin cannot approve through an account they set up.
 *
 * Anything that cannot be established (a damaged target list, a device gone) means "not allowed": fail closed.
 */
import type { PrismaClient } from '@prisma/client';
import { z } from 'zod';
import { Tier } from '../common/tools';
import { narrowedSites } from './site-scope';

export const APPROVER_ROLE = 'approver';

/** What of an approval the rule looks at. */
export interface ApprovalScope {
  orgId: string;
  sessionId: string;
  tier: number;
  targets: unknown;
  requestedBy: string;
}

export type Authority = { ok: true } | { ok: false; why: 'not_approver' | 'sites' | 'session_author' | 'vouched'; message: string };

// Stored by requestApproval as [{ id, name }]; anything else is treated as "targets unknown" (org-wide approvers only).
const Targets = z.array(z.object({ id: z.string() }).loose());

export function targetIds(targets: unknown): string[] | null {
  const parsed = Targets.safeParse(targets);
  return parsed.success ? parsed.data.map((t) => t.id) : null;
}

/**
 * The ids of the stored targets (`[{ id, name }]`) of the approval aliased `alias`, as a subquery of uuids: an id that
 * is no UUID names no device (NULL, which matches none). Each device is then found by its key: compared as text, the
 * ids read every device of the org (9.4 ms at 10,000 devices, against 0.15 ms by key). The decision service and the
 * workflow's verification read the targets' sites by it (api/services/decide-approval.ts, activities/decision-record.ts).
 * Use it as `d."id" = ANY(ARRAY(…))`: the array is built once per approval. As `d."id" IN (…)` the planner read the
 * targets again for every device of the org: a remediation's approval of 10,000 devices took over a minute to read.
 */
export function targetIdsSql(alias: string): string {
  return `SELECT CASE WHEN t ->> 'id' ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN (t ->> 'id')::uuid END
          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${alias}."targets") = 'array' THEN ${alias}."targets" ELSE '[]'::jsonb END) AS t
          WHERE jsonb_typeof(t) = 'object'`;
}

/** The site of each device among `ids` (in `orgIds`); a device not found is simply absent from the map. */
export async function sitesOfDevices(prisma: PrismaClient, orgIds: readonly string[], ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const devices = await prisma.device.findMany({ where: { id: { in: [...new Set(ids)] }, orgId: { in: [...orgIds] } }, select: { id: true, siteId: true } });
  return new Map(devices.map((d) => [d.id, d.siteId]));
}

/**
 * Whether approver sites (null: the whole org; []: no approver role) cover every target of an approval. No targets,
 * or a target whose site is unknown, is covered only by an org-wide approver.
 */
export function sitesCover(approverSites: readonly string[] | null, targets: unknown, siteOf: ReadonlyMap<string, string>): boolean {
  if (approverSites === null) return true;
  const ids = targetIds(targets);
  if (!ids || ids.length === 0) return false;
  return ids.every((id) => {
    const site = siteOf.get(id);
    return site !== undefined && approverSites.includes(site);
  });
}

/** Everyone who authored a turn of the session: its owner, every poster of a message, every requester of its calls. */
export async function sessionAuthors(prisma: PrismaClient, sessionId: string): Promise<Set<string>> {
  const [session, messages, approvals] = await Promise.all([
    prisma.copilotSession.findUnique({ where: { id: sessionId }, select: { userId: true } }),
    // Any message with an author (whatever its kind: a refused one was written by that person all the same).
    prisma.message.findMany({ where: { sessionId, userId: { not: null } }, select: { userId: true }, distinct: ['userId'] }),
    prisma.approval.findMany({ where: { sessionId }, select: { requestedBy: true }, distinct: ['requestedBy'] }),
  ]);
  const authors = new Set<string>(approvals.map((a) => a.requestedBy));
  if (session) authors.add(session.userId);
  for (const m of messages) if (m.userId) authors.add(m.userId);
  return authors;
}

/**
 * Among `userIds`, those an author vouched for: their current password was chosen by an author, they signed in
 * through an identity provider an author registered (its word is all that sign-in took), or an author granted them
 * the approver role in `orgId`.
 */
export async function vouchedByAuthors(prisma: PrismaClient, orgId: string, userIds: readonly string[], authors: ReadonlySet<string>): Promise<Set<string>> {
  if (userIds.length === 0 || authors.size === 0) return new Set();
  const by = [...authors];
  const users = await prisma.user.findMany({
    where: {
      id: { in: [...userIds] },
      OR: [{ passwordChosenBy: { in: by } }, { ssoVouchedBy: { hasSome: by } }, { roleBindings: { some: { orgId, role: APPROVER_ROLE, grantedBy: { in: by } } } }],
    },
    select: { id: true },
  });
  return new Set(users.map((u) => u.id));
}

/**
 * The rule for one user, given the sites their approver bindings reach in the approval's org (null: whole org,
 * []: not an approver there). `decision` is what they would decide: the T4 author rule concerns approving only.
 */
export async function approvalAuthority(
  prisma: PrismaClient,
  approval: ApprovalScope,
  user: { userId: string; approverSites: readonly string[] | null },
  decision: 'approved' | 'rejected',
  /** The site of each target device in the approval's org, when the caller read them with the approval (sitesOfDevices's answer). */
  read?: { siteOf: ReadonlyMap<string, string> },
): Promise<Authority> {
  if (user.approverSites !== null && user.approverSites.length === 0) {
    return { ok: false, why: 'not_approver', message: 'only an approver of this organization can decide on this approval' };
  }
  const siteOf = user.approverSites === null ? new Map<string, string>() : (read?.siteOf ?? (await sitesOfDevices(prisma, [approval.orgId], targetIds(approval.targets) ?? [])));
  if (!sitesCover(user.approverSites, approval.targets, siteOf)) {
    return { ok: false, why: 'sites', message: 'this approval touches devices outside the sites you approve for' };
  }
  if (approval.tier >= Tier.T4 && decision === 'approved') {
    const authors = await sessionAuthors(prisma, approval.sessionId);
    if (authors.has(user.userId) || approval.requestedBy === user.userId) {
      return { ok: false, why: 'session_author', message: 'a T4 call must be approved by someone other than the technician who asked for it, or anyone else who wrote in its session, and you wrote in that session' };
    }
    authors.add(approval.requestedBy);
    if ((await vouchedByAuthors(prisma, approval.orgId, [user.userId], authors)).size > 0) {
      return { ok: false, why: 'vouched', message: 'a T4 call must be approved by someone its requester did not set up, and someone who wrote in its session chose your password or granted you the approver role; a different approver must decide, or set your own password with a reset link first' };
    }
  }
  return { ok: true };
}

/** The sites a user's approver bindings reach in an org, read from the database (null: whole org; []: none). */
export async function approverSitesOf(prisma: PrismaClient, userId: string, orgId: string): Promise<string[] | null> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { disabledAt: true, roleBindings: { where: { orgId, role: APPROVER_ROLE }, select: { siteIds: true } } } });
  return approverSitesFrom(user && { disabled: user.disabledAt !== null, bindings: user.roleBindings });
}

/** The same, from the user as read with something else (null: no such user): a disabled user approves nothing. */
export function approverSitesFrom(user: { disabled: boolean; bindings: { siteIds: string[] }[] } | null): string[] | null {
  if (!user || user.disabled) return [];
  return narrowedSites(user.bindings);
}
