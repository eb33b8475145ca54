/** Agent enrollment: an enrollment key (site-scoped, expiring, usage-capped) is exchanged for a device credential. */
import { EnrolledAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { hashesEqual, randomToken, secretPrefix, sha256 } from '../../lib/secrets';
import { tenantTransaction } from '../../lib/tenant-db';
import { defineRoute, type AnyRoute } from '../http/route';

export const enrollAgent = defineRoute({
  method: 'post',
  path: '/v1/agents/enroll',
  summary: 'Exchange an enrollment key for a device id and secret',
  tag: 'agents',
  auth: 'none',
  body: z
    .object({
      key: z.string().min(1).max(200),
      hostname: z.string().min(1).max(255),
      name: z.string().min(1).max(100).optional(),
      os: z.string().min(1).max(200),
      executor: z.enum(['linux', 'simulated']),
      agentVersion: z.string().max(40).optional(),
    })
    .strict(),
  responses: { 201: 'Enrolled', 400: 'Invalid body', 401: 'Invalid, expired or used-up key' },
  response: EnrolledAnswer,
  async handler({ deps, system, body }) {
    const refused = new AppError(AppErrorCode.Unauthorized, 'the enrollment key is invalid, expired, revoked or used up');
    const prefix = secretPrefix(body.key);
    if (!prefix) throw refused;
    // The key is the only thing that names the org, so it is looked up unfenced; all else is fenced to its org.
    const key = await system.enrollmentKey.findUnique({ where: { prefix } });
    if (!key || !hashesEqual(key.hash, sha256(body.key))) throw refused;

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
          name: body.name ?? body.hostname,
          hostname: body.hostname,
          os: body.os,
          executor: body.executor,
          agentVersion: body.agentVersion ?? null,
        },
      });
      await tx.deviceCredential.create({ data: { deviceId: created.id, hash: sha256(secret) } });
      await audit(tx, { orgId: key.orgId, actorType: 'agent', actorId: created.id, action: 'agent.enrolled', target: created.name, data: { siteId: key.siteId } });
      return created;
    });
    if (!device) throw refused;
    return { status: 201, body: { deviceId: device.id, secret, orgId: device.orgId, siteId: device.siteId, name: device.name, commandKey: deps.config.commandSigningKey.publicKeyPem } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const agentRoutes: AnyRoute[] = [enrollAgent];
