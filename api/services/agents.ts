/**
 * Agent enrollment: an enrollment key (site-scoped, expiring, usage-capped) is exchanged for a device and its
 * credential. The key is the only thing that names the org, so it is looked up unfenced; all else is fenced to
 * its org. Every refusal reads the same, whatever the reason. A device's name is unique in its org: the same host
 * enrolling again (same site and hostname, its old record offline) takes its old record over; any other enrollment
 * under a taken name gets the first free "<name> (n)", which the agent is told.
 */
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import type { PrismaClient } from '../../lib/prisma';
import { hashesEqual, randomToken, secretPrefix, sha256 } from '../../lib/secrets';
import { tenantTransaction } from '../../lib/tenant-db';

export interface EnrollmentRequest {
  key: string;
  hostname: string;
  name?: string;
  os: string;
  executor: 'linux' | 'simulated';
  agentVersion?: string;
}

/** Answers the new device and its secret (shown once; only its hash is kept). */
export async function enrollAgent(system: PrismaClient, input: EnrollmentRequest) {
  const refused = new AppError(AppErrorCode.Unauthorized, 'the enrollment key is invalid, expired, revoked or used up');
  const prefix = secretPrefix(input.key);
  if (!prefix) throw refused;
  const key = await system.enrollmentKey.findUnique({ where: { prefix } });
  if (!key || !hashesEqual(key.hash, sha256(input.key))) throw refused;

  const secret = randomToken(32);
  const name = input.name ?? input.hostname;
  const device = await tenantTransaction(system, { orgIds: [key.orgId] }, async (tx) => {
    // Counting the use and creating the device commit together; the condition makes concurrent uses safe.
    const claimed = await tx.enrollmentKey.updateMany({
      where: { id: key.id, revokedAt: null, expiresAt: { gt: new Date() }, useCount: { lt: key.maxUses } },
      data: { useCount: { increment: 1 } },
    });
    if (claimed.count !== 1) return null;
    const details = { hostname: input.hostname, os: input.os, executor: input.executor, agentVersion: input.agentVersion ?? null };
    // Names are unique per org (the copilot and approvers name devices by them). The same host enrolling again in
    // the same site, while its old record is offline, takes that record over; any other clash is told apart.
    const taken = await tx.device.findUnique({ where: { orgId_name: { orgId: key.orgId, name } } });
    const device = taken && reenrolls(taken, { siteId: key.siteId, hostname: input.hostname })
      ? await takeOver(tx, taken, details)
      : await tx.device.create({ data: { orgId: key.orgId, siteId: key.siteId, name: taken ? await freeName(tx, key.orgId, name) : name, ...details } });
    await tx.deviceCredential.create({ data: { deviceId: device.id, hash: sha256(secret) } });
    if (device.id !== taken?.id) {
      await audit(tx, { orgId: key.orgId, actorType: 'agent', actorId: device.id, action: 'agent.enrolled', target: device.name, data: { siteId: key.siteId, ...(taken ? { asked: name } : {}) } });
    }
    return device;
  });
  if (!device) throw refused;
  return { device, secret };
}

type Tx = Parameters<Parameters<typeof tenantTransaction>[2]>[0];
type DeviceRow = NonNullable<Awaited<ReturnType<Tx['device']['findUnique']>>>;

/** The same host again: same site, same hostname, and its old record offline (a live agent is never displaced). */
function reenrolls(old: DeviceRow, claim: { siteId: string; hostname: string }): boolean {
  return old.siteId === claim.siteId && old.hostname === claim.hostname && !old.online;
}

/**
 * The new enrollment becomes the old record (its id, notes, alerts and history stay): the old credential is revoked,
 * and commands still queued for the old enrollment end unsent (REENROLLED): nothing approved while it was away runs on
 * whoever enrolled under its name.
 */
async function takeOver(tx: Tx, old: DeviceRow, details: { hostname: string; os: string; executor: string; agentVersion: string | null }) {
  const now = new Date();
  const revoked = await tx.deviceCredential.updateMany({ where: { deviceId: old.id, revokedAt: null }, data: { revokedAt: now } });
  const ended = await tx.deviceCommand.updateMany({ where: { deviceId: old.id, status: 'pending' }, data: { status: 'failed', errorCode: 'REENROLLED', completedAt: now } });
  const device = await tx.device.update({ where: { id: old.id }, data: { ...details, online: false } });
  await audit(tx, {
    orgId: old.orgId,
    actorType: 'agent',
    actorId: old.id,
    action: 'agent.reenrolled',
    target: old.name,
    data: { siteId: old.siteId, credentialsRevoked: revoked.count, commandsEnded: ended.count, lastSeenAt: old.lastSeenAt?.toISOString() ?? null },
  });
  return device;
}

/** "<name> (2)", "(3)", …: the first one free in the org. */
async function freeName(tx: Tx, orgId: string, name: string): Promise<string> {
  const rows = await tx.device.findMany({ where: { orgId, name: { startsWith: `${name} (` } }, select: { name: true } });
  const used = new Set(rows.map((r) => r.name));
  for (let n = 2; ; n++) if (!used.has(`${name} (${n})`)) return `${name} (${n})`;
}
