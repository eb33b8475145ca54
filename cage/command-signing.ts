/**
 * Signed device commands. The server signs every command it sends with its Ed25519 key, over the canonical JSON
 * (RFC 8785) of everything the agent acts on, including the device it is for and the digest of the approval it
 * needed (null for a call that needed none). Agents get the public key at enrollment and refuse any command
 * whose signature is missing or does not verify, so an altered, replayed-to-another-device or forged command
 * never runs.
 */
import crypto, { type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

export interface SignedCommand {
  v: number;
  commandId: string;
  deviceId: string;
  kind: string;
  params: Record<string, unknown>;
  expiresAt: string;
  timeoutSeconds: number;
  approvalDigest: string | null;
}

function payload(c: SignedCommand): Buffer {
  const text = canonicalize({
    v: c.v,
    commandId: c.commandId,
    deviceId: c.deviceId,
    kind: c.kind,
    params: c.params,
    expiresAt: c.expiresAt,
    timeoutSeconds: c.timeoutSeconds,
    approvalDigest: c.approvalDigest,
  });
  if (text === undefined) throw new Error('command cannot be canonicalized');
  return Buffer.from(text, 'utf8');
}

export interface SigningKey {
  privateKey: KeyObject;
  /** SPKI PEM, given to agents at enrollment. */
  publicKeyPem: string;
}

export function generateSigningKeyPem(): string {
  return crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function loadSigningKey(privatePem: string): SigningKey {
  const privateKey = crypto.createPrivateKey(privatePem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the command signing key must be an Ed25519 private key (PKCS#8 PEM)');
  return { privateKey, publicKeyPem: crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString() };
}

export function signCommand(key: SigningKey, c: SignedCommand): string {
  return crypto.sign(null, payload(c), key.privateKey).toString('base64');
}

/** An agent verifies every command with the same key: parsed once, not once per command. */
let parsedKey: { pem: string; key: KeyObject } | undefined;
function publicKeyOf(pem: string): KeyObject {
  if (parsedKey?.pem !== pem) parsedKey = { pem, key: crypto.createPublicKey(pem) };
  return parsedKey.key;
}

/** False for a missing, malformed or non-matching signature, or an unusable key. */
export function verifyCommand(publicKeyPem: string, c: SignedCommand, signature: string | undefined): boolean {
  if (!signature) return false;
  try {
    return crypto.verify(null, payload(c), publicKeyOf(publicKeyPem), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
