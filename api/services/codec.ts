/**
 * Decoding workflow payloads for the Temporal Web UI (routes/codec.ts is its wire): one operation, audited whether
 * allowed or denied. A payload carries no organization (the codec runs where the org is unknown), and the Temporal
 * UI lists every organization's workflows, so decoding is for people who may read every history of their partner:
 * auditors bound in each of its organizations, and partner admins (who can grant themselves that role anyway).
 * An org admin is not enough: an organization is an MSP's customer, and its admin may be the customer's own staff.
 */
import type { Payload } from '@temporalio/common';
import { audit } from '../../audit/log';
import { AppError, AppErrorCode } from '../../lib/app-error';
import type { PrismaClient } from '../../lib/prisma';
import { orgsWhere, type Principal, Role } from '../http/access';
import type { Caller } from './caller';

/** Partner admins, and auditors bound in every organization of their partner (and of this deployment's, if set). */
async function mayReadEveryHistory(system: PrismaClient, principal: Principal, deploymentPartnerId?: string): Promise<boolean> {
  if (deploymentPartnerId && principal.partnerId !== deploymentPartnerId) return false;
  if (principal.partnerAdmin) return true;
  const audited = new Set(orgsWhere(principal, [Role.Auditor]));
  const orgs = await system.organization.findMany({ where: { partnerId: principal.partnerId }, select: { id: true } });
  return orgs.length > 0 && orgs.every((o) => audited.has(o.id));
}

/** Decrypts one history event's payloads with PAYLOAD_KEYS, for someone who may read every history of their partner. */
export async function decodeHistoryPayloads({ deps, system, principal }: Caller, namespace: string, payloads: Payload[]): Promise<Payload[]> {
  const event = { actorType: 'user' as const, actorId: principal.userId, data: { count: payloads.length, namespace, via: principal.via } };
  if (!(await mayReadEveryHistory(system, principal, deps.config.partnerId))) {
    await audit(system, { ...event, action: 'codec.decode_denied' });
    throw new AppError(AppErrorCode.Forbidden, 'decoding workflow payloads needs the auditor role in every organization of your partner, or partner admin');
  }
  let decoded: Payload[];
  try {
    decoded = await deps.payloadCodec.decode(payloads);
  } catch (err) {
    // The codec's messages name a key id or say the payload was altered; they never carry key material.
    throw new AppError(AppErrorCode.BadRequest, `payloads: ${(err as Error).message}`);
  }
  await audit(system, { ...event, action: 'codec.decoded' });
  return decoded;
}
