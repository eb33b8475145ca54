/**
 * A software passkey for API-level tests (the browser tests use Chromium's virtual authenticator instead): an
 * ES256 key whose public half is registered for a user as the console would store it, and which answers
 * navigator.credentials.get's options as an authenticator would (authenticator data with UP and UV, client data
 * JSON, DER signature). It is the third party (the authenticator) faked at the wire; our verification is real.
 */
import crypto from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { TestSystem } from './harness';

export interface SoftPasskey {
  credentialId: string;
  /** Answers the options of POST /v1/approvals/:id/passkey-options (optionally over another challenge). */
  sign(options: { challenge: string; rpId?: string }, opts?: { origin?: string; challenge?: string }): unknown;
}

/** A passkey registered for `userId` (as POST /v1/passkeys would store it). */
export async function softPasskey(sys: TestSystem, userId: string): Promise<SoftPasskey> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const cose = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
      [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
    ]),
  );
  const credentialId = crypto.randomBytes(16).toString('base64url');
  await sys.prisma.passkeyCredential.create({ data: { userId, credentialId, publicKey: Buffer.from(cose).toString('base64url'), name: 'test key', transports: ['internal'] } });
  let counter = 0;
  return {
    credentialId,
    sign(options, opts = {}) {
      const origin = opts.origin ?? `http://localhost:${new URL(sys.url).port}`;
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: opts.challenge ?? options.challenge, origin, crossOrigin: false }));
      const flags = 0x01 | 0x04; // user present, user verified
      const count = Buffer.alloc(4);
      count.writeUInt32BE(++counter);
      const authenticatorData = Buffer.concat([crypto.createHash('sha256').update(options.rpId ?? 'localhost').digest(), Buffer.from([flags]), count]);
      const signature = crypto.sign('sha256', Buffer.concat([authenticatorData, crypto.createHash('sha256').update(clientDataJSON).digest()]), privateKey);
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: { clientDataJSON: clientDataJSON.toString('base64url'), authenticatorData: authenticatorData.toString('base64url'), signature: signature.toString('base64url') },
        clientExtensionResults: {},
      };
    },
  };
}

/** The user an API key (`gh_<prefix>_<secret>`) of the test system belongs to. */
export async function userOfKey(sys: TestSystem, key: string): Promise<string> {
  const keys = await sys.prisma.apiKey.findMany({ select: { userId: true, prefix: true } });
  const found = keys.find((k) => key.split('_')[1] === k.prefix);
  if (!found) throw new Error('no such API key');
  return found.userId;
}

const passkeys = new Map<string, SoftPasskey>();

/** The user's software passkey in this test system, registered on first use. */
export async function passkeyOf(sys: TestSystem, userId: string): Promise<SoftPasskey> {
  let passkey = passkeys.get(`${sys.url}|${userId}`);
  if (!passkey) {
    passkey = await softPasskey(sys, userId);
    passkeys.set(`${sys.url}|${userId}`, passkey);
  }
  return passkey;
}

/**
 * Approves a T4 (or passkey-requiring T3) approval through the API as the key's user, signed with that user's
 * software passkey (registered on first use): fetches the challenge for this approval, signs it, posts the
 * decision with the phrase and the assertion. Returns the decision's answer.
 */
export async function approveWithPasskey(sys: TestSystem, approvalId: string, key: string, body: Record<string, unknown> = {}): Promise<{ status: number; body: any }> {
  const passkey = await passkeyOf(sys, await userOfKey(sys, key));
  const options = await sys.request('POST', `/v1/approvals/${approvalId}/passkey-options`, { key, body: {} });
  if (options.status !== 200) return options;
  return sys.request('POST', `/v1/approvals/${approvalId}/decision`, { key, body: { decision: 'approve', ...body, passkey: passkey.sign(options.body) } });
}

/**
 * Continues a remediation past its failed canary through the API as the key's user, signed with that user's software
 * passkey over the continue's own challenge (POST …/canary-decision/passkey-options), with `body` (reason, phrase).
 */
export async function continueWithPasskey(sys: TestSystem, remediationPath: string, key: string, body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const passkey = await passkeyOf(sys, await userOfKey(sys, key));
  const options = await sys.request('POST', `${remediationPath}/canary-decision/passkey-options`, { key, body: {} });
  if (options.status !== 200) return options;
  return sys.request('POST', `${remediationPath}/canary-decision`, { key, body: { decision: 'continue', ...body, passkey: passkey.sign(options.body) } });
}
