/**
 * Opaque credentials (API keys, enrollment keys, device secrets): random, shown once, stored as SHA-256.
 * A key looks like `gh_<prefix>_<secret>`; the prefix is stored in clear so the row can be found without a scan,
 * and the comparison of hashes is constant-time.
 */
import crypto from 'node:crypto';

export interface IssuedSecret {
  /** The full value, to show once. */
  plain: string;
  prefix: string;
  hash: string;
}

export function sha256(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

export function issueSecret(kind: 'gh' | 'ghe'): IssuedSecret {
  const prefix = crypto.randomBytes(6).toString('hex');
  const secret = crypto.randomBytes(32).toString('base64url');
  const plain = `${kind}_${prefix}_${secret}`;
  return { plain, prefix, hash: sha256(plain) };
}

const SECRET_FORMAT = /^(gh|ghe)_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** The lookup prefix of a well-formed secret, or null for anything malformed. */
export function secretPrefix(plain: string): string | null {
  const match = SECRET_FORMAT.exec(plain);
  return match ? match[2]! : null;
}

export function randomToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}
