/**
 * A passkey-signed decision, and how anyone (the decision service, the workflow's activity, an auditor offline)
 * checks it. The challenge the authenticator signs is derived from the approval, never random alone:
 *
 *   challenge = SHA-256("gatehouse-approval/1" NUL digest NUL approvalId NUL nonce)
 *
 * where `nonce` is 256 random bits the server issued once. Continuing a remediation past its failed canary takes the
 * same proof as approving it (docs/policy.md): its challenge is derived the same way under another domain,
 * "gatehouse-canary-continue/1", so an approval's assertion never stands for a continue, nor the other way round. The signature therefore covers the exact call (its
 * digest) and this approval only: an assertion made for another approval, or for a call that changed since, does
 * not verify. What is stored with the decision (and in its `approval.approved` audit event, so the export carries
 * it) is everything an offline check needs: the credential id and its COSE public key, the authenticator data,
 * the client data JSON and the signature, the nonce, and the RP ID and origin it was made for.
 */
import crypto from 'node:crypto';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import type { PrismaClient } from '@prisma/client';
import { z } from 'zod';
import { Tier } from '../common/tier';

const B64url = z.string().regex(/^[A-Za-z0-9_-]*$/).max(16_384);

/** A passkey assertion as stored with a decision. */
export const StoredAssertion = z
  .object({
    credentialId: B64url.min(1),
    /** COSE public key, base64url. */
    publicKey: B64url.min(1),
    authenticatorData: B64url.min(1),
    clientDataJSON: B64url.min(1),
    signature: B64url.min(1),
    userHandle: B64url.optional(),
    nonce: B64url.min(1),
    rpId: z.string().min(1).max(253),
    origin: z.string().min(1).max(300),
  })
  .strict();
export type StoredAssertion = z.infer<typeof StoredAssertion>;

/** The browser's answer to navigator.credentials.get, as @simplewebauthn/browser returns it (Zod at the boundary). */
export const AuthenticationResponse = z
  .object({
    id: B64url.min(1),
    rawId: B64url.min(1),
    type: z.literal('public-key'),
    response: z
      .object({
        clientDataJSON: B64url.min(1),
        authenticatorData: B64url.min(1),
        signature: B64url.min(1),
        userHandle: B64url.optional(),
      })
      .passthrough(),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  })
  .strict();
export type AuthenticationResponse = z.infer<typeof AuthenticationResponse>;

/** What a passkey signs over an approval: the decision itself, or a continue after the remediation's canary failed. */
export type SignedAct = 'approval' | 'canary_continue';
const DOMAIN: Record<SignedAct, string> = { approval: 'gatehouse-approval/1', canary_continue: 'gatehouse-canary-continue/1' };

/** The challenge (base64url) an approver's passkey must sign for this act on this approval, with this nonce. */
export function approvalChallenge(digest: string, approvalId: string, nonce: string, act: SignedAct = 'approval'): string {
  return crypto.createHash('sha256').update(`${DOMAIN[act]}\0${digest}\0${approvalId}\0${nonce}`, 'utf8').digest('base64url');
}

/** The challenge the client data JSON says was signed (null when it cannot be read). */
export function signedChallenge(clientDataJSON: string): { challenge: string; origin: string; type: string } | null {
  try {
    const parsed = z
      .object({ challenge: z.string(), origin: z.string(), type: z.string() })
      .passthrough()
      .parse(JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')));
    return { challenge: parsed.challenge, origin: parsed.origin, type: parsed.type };
  } catch {
    return null;
  }
}

/**
 * Checks a stored assertion for an approval: the client data names the challenge derived from this digest, this
 * approval id and the stored nonce, the type is `webauthn.get`, the user was verified, and the signature over the
 * authenticator data and the client data verifies with the public key (`publicKey`, when given, is the one the
 * caller trusts, e.g. the registered credential's; otherwise the one stored with the assertion). Returns the
 * problem in words, or null when it holds. Needs no database and no network.
 */
export async function assertionProblem(raw: unknown, approval: { id: string; digest: string }, publicKey?: string, act: SignedAct = 'approval'): Promise<string | null> {
  const parsed = StoredAssertion.safeParse(raw);
  if (!parsed.success) return 'no passkey assertion stored with the decision';
  const a = parsed.data;
  if (publicKey !== undefined && publicKey !== a.publicKey) return 'the assertion names a public key other than the registered credential\'s';
  const client = signedChallenge(a.clientDataJSON);
  if (!client) return 'the client data of the assertion cannot be read';
  if (client.challenge !== approvalChallenge(approval.digest, approval.id, a.nonce, act)) {
    return act === 'approval' ? 'the passkey signed a challenge that is not derived from this approval\'s digest' : 'the passkey signed a challenge that is not a continue of this remediation';
  }
  try {
    const result = await verifyAuthenticationResponse({
      response: {
        id: a.credentialId,
        rawId: a.credentialId,
        type: 'public-key',
        response: { authenticatorData: a.authenticatorData, clientDataJSON: a.clientDataJSON, signature: a.signature, ...(a.userHandle ? { userHandle: a.userHandle } : {}) },
        clientExtensionResults: {},
      },
      expectedChallenge: client.challenge,
      expectedOrigin: a.origin,
      expectedRPID: a.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      // The counter was checked against the registered one when the decision was made; here only the signature.
      credential: { id: a.credentialId, publicKey: new Uint8Array(Buffer.from(a.publicKey, 'base64url')), counter: 0 },
    });
    return result.verified ? null : 'the passkey signature does not verify';
  } catch (err) {
    return `the passkey signature does not verify (${(err as Error).message})`;
  }
}

/**
 * Whether deciding this approval takes a passkey: T4 always, T3 where the org asks, read now. An org that cannot be
 * read counts as asking (fail closed). The one rule for the api that asks for the signature and the workflow's
 * activity that checks it again.
 */
export async function passkeyRequired(prisma: Pick<PrismaClient, 'organization'>, approval: { tier: number; orgId: string }): Promise<boolean> {
  if (approval.tier < Tier.T3 || approval.tier >= Tier.T4) return passkeyRequiredBy(approval.tier, null);
  const org = await prisma.organization.findUnique({ where: { id: approval.orgId }, select: { passkeysForT3: true } });
  return passkeyRequiredBy(approval.tier, org?.passkeysForT3 ?? null);
}

/** The same rule, given the org's `passkeysForT3` as read with the approval (null: the org could not be read). */
export function passkeyRequiredBy(tier: number, passkeysForT3: boolean | null): boolean {
  if (tier >= Tier.T4) return true;
  if (tier < Tier.T3) return false;
  return passkeysForT3 !== false;
}
