/**
 * Agent enrollment: an enrollment key (site-scoped, expiring, usage-capped) is exchanged for a device and its
 * credential. The key is the only thing that names the org, so it is looked up unfenced; all else is fenced to
 * its org. Every refusal reads the same, whatever the reason.
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
  const device = await tenantTransaction(system, { orgIds: [key.orgId] }, async (tx) => {
    // Counting the use and creating the device commit together; the condition makes concurrent uses safe.
    const claimed = await tx.enrollmentKey.updateMany({
      where: { id: key.id, revokedAt: null, expiresAt: { gt: new Date() }, useCount: { lt: key.maxUses } },
      data: { useCount: { increment: 1 } },
    });
    if (claimed.count !== 1) return null;
    const created = await tx.device.create({
      data: {
        orgId: key.orgId,
        siteId: key.siteId,
        name: input.name ?? input.hostname,
        hostname: input.hostname,
        os: input.os,
        executor: input.executor,
        agentVersion: input.agentVersion ?? null,
      },
    });
    await tx.deviceCredential.create({ data: { deviceId: created.id, hash: sha256(secret) } });
    await audit(tx, { orgId: key.orgId, actorType: 'agent', actorId: created.id, action: 'agent.enrolled', target: created.name, data: { siteId: key.siteId } });
    return created;
  });
  if (!device) throw refused;
  return { device, secret };
}
