/**
 * Passkeys (WebAuthn, @simplewebauthn/server): a user registers them in the console (a signed-in web session
 * only: an API key must not be able to add the key that approves T4 calls), and every approving decision that needs
 * one (T4; T3 where the org asks) carries a fresh assertion over a challenge derived from the approval's digest
 * (lib/passkey-assertion.ts). Challenges are single use and short-lived; the one decision service checks the
 * assertion (decide-approval.ts) and the workflow's activity checks it again before anything runs.
 *
 * The relying party: the host of PUBLIC_URL (and its origin, exactly); without PUBLIC_URL (development, tests)
 * `localhost` on any port. Browsers do not allow an IP address as an RP ID: open the console at localhost.
 */
import crypto from 'node:crypto';
import type { Approval } from '@prisma/client';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticatorTransportFuture,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import { auditForUser } from '../../audit/log';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { approvalChallenge, AuthenticationResponse, passkeyRequired, signedChallenge, type SignedAct, type StoredAssertion } from '../../lib/passkey-assertion';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';
import type { Caller } from './caller';

const CHALLENGE_TTL_MS = 5 * 60_000;
const B64url = z.string().regex(/^[A-Za-z0-9_-]+$/).max(16_384);

export const RegistrationResponse = z
  .object({
    id: B64url,
    rawId: B64url,
    type: z.literal('public-key'),
    response: z
      .object({
        clientDataJSON: B64url,
        attestationObject: B64url,
        transports: z.array(z.string().max(32)).max(10).optional(),
      })
      .passthrough(),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  })
  .strict();

export { AuthenticationResponse, passkeyRequired };

/** Who we are to authenticators: the RP ID they scope credentials to, and the origins assertions may come from. */
export function relyingParty(config: ApiDeps['config']): { rpId: string; rpName: string; originAllowed(origin: string): boolean } {
  if (config.publicUrl) {
    const url = new URL(config.publicUrl);
    return { rpId: url.hostname, rpName: 'Gatehouse', originAllowed: (o) => o === url.origin };
  }
  return { rpId: 'localhost', rpName: 'Gatehouse', originAllowed: (o) => /^https?:\/\/localhost(:\d{1,5})?$/.test(o) };
}

const listView = (c: { id: string; name: string; createdAt: Date; lastUsedAt: Date | null }) => ({ id: c.id, name: c.name, createdAt: c.createdAt.toISOString(), lastUsedAt: c.lastUsedAt?.toISOString() ?? null });

function sessionOnly(principal: Principal): void {
  if (principal.via !== 'session') throw new AppError(AppErrorCode.Forbidden, 'passkeys are registered in the signed-in console only, never with an API key');
}

export async function listPasskeys({ system, principal }: Caller) {
  const creds = await system.passkeyCredential.findMany({ where: { userId: principal.userId, removedAt: null }, orderBy: { createdAt: 'asc' } });
  return creds.map(listView);
}

/** Options for the browser, as JSON (what @simplewebauthn/browser's start* functions take as optionsJSON). */
export type WebAuthnOptions = { challenge: string } & Record<string, unknown>;

export async function registrationOptions({ deps, system, principal }: Caller): Promise<WebAuthnOptions> {
  sessionOnly(principal);
  const rp = relyingParty(deps.config);
  const existing = await system.passkeyCredential.findMany({ where: { userId: principal.userId, removedAt: null } });
  const options = await generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpId,
    userName: principal.email,
    userID: new Uint8Array(Buffer.from(principal.userId.replace(/-/g, ''), 'hex')),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransportFuture[] })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
  });
  await system.passkeyChallenge.create({ data: { userId: principal.userId, kind: 'registration', challenge: options.challenge, expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS) } });
  return { ...options };
}

/** Spends a challenge once: true only for the caller that marked it used. */
async function spend(system: ApiDeps['prisma'], id: string): Promise<boolean> {
  return (await system.passkeyChallenge.updateMany({ where: { id, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } })).count === 1;
}

export async function registerPasskey({ deps, system, principal }: Caller, body: { name: string; response: z.infer<typeof RegistrationResponse> }) {
  sessionOnly(principal);
  const rp = relyingParty(deps.config);
  const client = signedChallenge(body.response.response.clientDataJSON);
  const row = client ? await system.passkeyChallenge.findUnique({ where: { challenge: client.challenge } }) : null;
  if (!client || !row || row.kind !== 'registration' || row.userId !== principal.userId || !(await spend(system, row.id))) {
    throw new AppError(AppErrorCode.BadRequest, 'this registration was not started here, is too old or was already used; start again');
  }
  if (!rp.originAllowed(client.origin)) throw new AppError(AppErrorCode.BadRequest, `passkeys are registered on ${rp.rpId} only`);
  let verified;
  try {
    verified = await verifyRegistrationResponse({
      response: body.response as unknown as RegistrationResponseJSON,
      expectedChallenge: row.challenge,
      expectedOrigin: client.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: true,
    });
  } catch (err) {
    throw new AppError(AppErrorCode.BadRequest, `the passkey could not be registered: ${(err as Error).message}`);
  }
  if (!verified.verified) throw new AppError(AppErrorCode.BadRequest, 'the passkey could not be registered');
  const { credential } = verified.registrationInfo;
  const publicKey = Buffer.from(credential.publicKey).toString('base64url');
  const saved = await system.passkeyCredential.create({
    data: { userId: principal.userId, credentialId: credential.id, publicKey, counter: BigInt(credential.counter), transports: credential.transports ?? [], name: body.name },
  });
  await auditForUser(system, principal.userId, { actorType: 'user', actorId: principal.userId, action: 'passkey.registered', target: principal.email, data: { passkeyId: saved.id, name: saved.name, credentialId: saved.credentialId, publicKey } });
  return listView(saved);
}

export async function removePasskey({ system, principal }: Caller, id: string) {
  // Someone else's passkey answers like an unknown one, whatever the caller authenticated with.
  if (!(await system.passkeyCredential.findFirst({ where: { id, userId: principal.userId, removedAt: null }, select: { id: true } }))) throw AppError.notFound('passkey');
  sessionOnly(principal);
  const removed = await system.passkeyCredential.updateMany({ where: { id, userId: principal.userId, removedAt: null }, data: { removedAt: new Date() } });
  if (removed.count !== 1) throw AppError.notFound('passkey');
  await auditForUser(system, principal.userId, { actorType: 'user', actorId: principal.userId, action: 'passkey.removed', target: principal.email, data: { passkeyId: id } });
}

/**
 * The options for signing a decision on one approval (which the caller may see), or (`act` canary_continue) a
 * continue of its remediation after a failed canary: a fresh nonce, and the challenge derived from the approval's
 * digest, its id, that nonce and the act. Only the caller's own passkeys are allowed.
 */
export async function approvalAssertionOptions({ deps, system, principal }: Caller, approval: Approval, act: SignedAct = 'approval'): Promise<WebAuthnOptions> {
  if (act === 'approval' && approval.status !== 'pending') throw new AppError(AppErrorCode.Conflict, `this approval is already ${approval.status}`);
  if (act === 'canary_continue' && approval.status !== 'approved') throw new AppError(AppErrorCode.Conflict, 'the remediation was never approved: there is nothing to continue');
  const creds = await system.passkeyCredential.findMany({ where: { userId: principal.userId, removedAt: null } });
  if (creds.length === 0) throw new AppError(AppErrorCode.BadRequest, 'register a passkey first (Passkeys, in the console): this decision must be signed with one');
  const nonce = crypto.randomBytes(32).toString('base64url');
  const challenge = approvalChallenge(approval.digest, approval.id, nonce, act);
  await system.passkeyChallenge.create({ data: { userId: principal.userId, kind: act, approvalId: approval.id, nonce, challenge, expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS) } });
  return { ...(await generateAuthenticationOptions({
    rpID: relyingParty(deps.config).rpId,
    challenge: new Uint8Array(Buffer.from(challenge, 'base64url')),
    allowCredentials: creds.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransportFuture[] })),
    userVerification: 'required',
  })) };
}

/**
 * Checks the assertion a decision carries, for this approver and this approval, and spends its challenge: it was
 * issued to this approver for this approval and never used; it is derived from the approval's digest as it is now
 * (a call changed since is refused); the passkey is one of the approver's own; the signature verifies, with user
 * verification. Returns what is stored with the decision, or the refusal in words (the caller audits it).
 */
export async function checkDecisionAssertion(
  deps: ApiDeps,
  principal: Principal,
  approval: Approval,
  raw: unknown,
  act: SignedAct = 'approval',
): Promise<{ ok: true; assertion: StoredAssertion; credentialId: string } | { ok: false; why: string; message: string }> {
  const system = deps.prisma;
  const refuse = (why: string, message: string) => ({ ok: false as const, why, message });
  const what = act === 'approval' ? `approving this T${approval.tier} call` : `continuing this T${approval.tier} remediation past its failed canary`;
  if (raw === undefined || raw === null) return refuse('no passkey assertion', `${what} needs your passkey: ${act === 'approval' ? 'approve it' : 'decide it'} in the Gatehouse console, which asks for it`);
  const parsed = AuthenticationResponse.safeParse(raw);
  if (!parsed.success) return refuse('malformed passkey assertion', 'body.passkey: not a passkey assertion');
  const response = parsed.data;
  const rp = relyingParty(deps.config);
  const client = signedChallenge(response.response.clientDataJSON);
  if (!client) return refuse('malformed passkey assertion', 'body.passkey: the client data cannot be read');
  const row = await system.passkeyChallenge.findUnique({ where: { challenge: client.challenge } });
  if (!row || row.kind !== act || row.userId !== principal.userId || row.approvalId !== approval.id || !row.nonce) {
    return refuse('passkey assertion not made for this approval', `this passkey signature was not made for ${act === 'approval' ? 'this approval' : 'continuing this remediation'}; sign this one`);
  }
  if (row.usedAt || row.expiresAt <= new Date()) return refuse('passkey challenge used or expired', 'this passkey signature was already used or is too old; sign again');
  if (approvalChallenge(approval.digest, approval.id, row.nonce, act) !== client.challenge) {
    return refuse('passkey assertion for another digest', 'the tool call changed since you signed it; review it again');
  }
  if (!rp.originAllowed(client.origin)) return refuse('passkey assertion from another origin', `passkeys are accepted from ${rp.rpId} only`);
  const credential = await system.passkeyCredential.findUnique({ where: { credentialId: response.id } });
  if (!credential || credential.userId !== principal.userId || credential.removedAt) return refuse('passkey not registered to the approver', 'this passkey is not one of yours registered in Gatehouse');
  if (!(await spend(system, row.id))) return refuse('passkey challenge used or expired', 'this passkey signature was already used or is too old; sign again');
  let result;
  try {
    result = await verifyAuthenticationResponse({
      response: { ...response, clientExtensionResults: response.clientExtensionResults },
      expectedChallenge: row.challenge,
      expectedOrigin: client.origin,
      expectedRPID: rp.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      credential: { id: credential.credentialId, publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')), counter: Number(credential.counter) },
    });
  } catch (err) {
    return refuse('passkey signature invalid', `the passkey signature does not verify: ${(err as Error).message}`);
  }
  if (!result.verified) return refuse('passkey signature invalid', 'the passkey signature does not verify');
  await system.passkeyCredential.update({ where: { id: credential.id }, data: { counter: BigInt(result.authenticationInfo.newCounter), lastUsedAt: new Date() } });
  return {
    ok: true,
    credentialId: credential.id,
    assertion: {
      credentialId: credential.credentialId,
      publicKey: credential.publicKey,
      authenticatorData: response.response.authenticatorData,
      clientDataJSON: response.response.clientDataJSON,
      signature: response.response.signature,
      ...(response.response.userHandle ? { userHandle: response.response.userHandle } : {}),
      nonce: row.nonce,
      rpId: rp.rpId,
      origin: client.origin,
    },
  };
}
