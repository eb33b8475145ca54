/**
 * Encrypts every payload our processes hand to Temporal (workflow inputs, activity inputs and results, signals,
 * updates, queries' answers, memos), so user messages, scripts and tool output are not plaintext in Temporal's
 * database or in anything that reads it. AES-256-GCM with a fresh 12-byte IV per payload; the whole Payload
 * (metadata and data) is serialized and encrypted, and the key id travels in the clear metadata so a rotated key
 * still decrypts old histories. Keys come from PAYLOAD_KEYS (lib/env.ts): the first encrypts, every one decrypts.
 *
 * Payloads that are not `binary/encrypted` pass through decode untouched: histories recorded before this codec (and
 * the committed fixtures in test/fixtures/histories) still replay.
 */
import crypto from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { EnvError, parsePayloadKeys, type Env, type PayloadKey } from './env';

export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
export const METADATA_CIPHER = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);
/** A key id read from a payload, safe to put in a message (the metadata is whatever the payload's sender wrote). */
const shown = (id: string) => JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);

export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly current: PayloadKey;

  constructor(keys: readonly PayloadKey[]) {
    if (!keys[0]) throw new ValueError('the payload codec needs at least one key');
    this.current = keys[0];
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.current.key, iv);
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCODING_ENCRYPTED),
        [METADATA_KEY_ID]: Buffer.from(this.current.id),
        [METADATA_CIPHER]: Buffer.from(CIPHER),
      },
      data,
    };
  }

  private decrypt(payload: Payload): Payload {
    if (utf8(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCODING_ENCRYPTED) return payload;
    const keyId = utf8(payload.metadata?.[METADATA_KEY_ID]);
    if (!keyId) throw new ValueError('an encrypted payload names no encryption key id; it cannot be decrypted');
    const cipherName = utf8(payload.metadata?.[METADATA_CIPHER]);
    if (cipherName !== undefined && cipherName !== CIPHER) throw new ValueError(`an encrypted payload uses cipher ${shown(cipherName)}; only ${CIPHER} is supported`);
    const key = this.keys.get(keyId);
    if (!key) {
      throw new ValueError(`a payload is encrypted with key id ${shown(keyId)}, which is not in PAYLOAD_KEYS (this process has ${[...this.keys.keys()].join(', ')}); add that key to decrypt it`);
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`a payload encrypted with key id ${shown(keyId)} is too short to be one of ours`);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ValueError(`a payload encrypted with key id ${shown(keyId)} does not decrypt: the key under that id is not the one it was encrypted with, or the payload was altered`);
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}

/** The data converter of every client, worker and replay of ours. */
export const dataConverterOf = (codec: PayloadCodec) => ({ payloadCodecs: [codec] });

/**
 * The development key file: one random key, made on first use (0600). Written to a temporary file and linked into
 * place, so the api and the worker starting together on a fresh clone end up with the same key.
 */
function devPayloadKeys(dataDir: string): string {
  const file = path.join(dataDir, 'payload-keys');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const id = `dev-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, `${id}:${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  return readFileSync(file, 'utf8');
}

/** Where the development keys live (for messages; the file holds key material, never print its content). */
export const devPayloadKeysFile = (env: Pick<Env, 'DATA_DIR'>) => path.join(env.DATA_DIR, 'payload-keys');

/**
 * The codec of PAYLOAD_KEYS; outside production, without it, the development keys in DATA_DIR (made on first use).
 * Throws EnvError naming the variable when production has none, or the key file is malformed.
 */
export function payloadCodecFromEnv(env: Pick<Env, 'PAYLOAD_KEYS' | 'NODE_ENV' | 'DATA_DIR'>): EncryptionCodec {
  if (env.PAYLOAD_KEYS) {
    const parsed = parsePayloadKeys(env.PAYLOAD_KEYS);
    if ('problem' in parsed) throw new EnvError(`invalid configuration: PAYLOAD_KEYS: ${parsed.problem}`);
    return new EncryptionCodec(parsed.keys);
  }
  if (env.NODE_ENV === 'production') {
    throw new EnvError('PAYLOAD_KEYS is not set: it encrypts workflow histories in Temporal, and production never falls back to a key file (set it the same on every api, worker and audit host)');
  }
  const parsed = parsePayloadKeys(devPayloadKeys(env.DATA_DIR));
  if ('problem' in parsed) throw new EnvError(`${devPayloadKeysFile(env)}: ${parsed.problem} (delete the file to make a new key; histories encrypted with the old one then no longer decrypt)`);
  return new EncryptionCodec(parsed.keys);
}
