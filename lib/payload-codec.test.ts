/**
 * The payload codec on its own: what it writes is not readable without the key, rotated keys still decrypt, a
 * missing key is named by its id (never its material), and plaintext payloads from before the codec pass through.
 */
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { timelineOf } from '../audit/timeline';
import { EnvError, loadEnv } from './env';
import { decodeHistory, encodeHistory } from './history-payloads';
import { EncryptionCodec, payloadCodecFromEnv } from './payload-codec';

const keyA = { id: 'key-a', key: crypto.randomBytes(32) };
const keyB = { id: 'key-b', key: crypto.randomBytes(32) };
const message = { text: 'restart the spooler on ACME-PC-01 (marker 7f3c)', userId: 'u1' };
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('latin1');

it('encrypts the whole payload, metadata included, with a fresh IV each time', async () => {
  const codec = new EncryptionCodec([keyA]);
  const plain = defaultPayloadConverter.toPayload(message);
  const [once, twice] = await codec.encode([plain, plain]);
  expect(text(once!.metadata!.encoding)).toBe('binary/encrypted');
  expect(text(once!.metadata!['encryption-key-id'])).toBe('key-a');
  expect(text(once!.metadata!['encryption-cipher'])).toBe('AES-256-GCM');
  expect(text(once!.data)).not.toContain('marker 7f3c');
  expect(text(once!.data)).not.toContain('json/plain');
  expect(Buffer.from(once!.data!).equals(Buffer.from(twice!.data!))).toBe(false);
  const [back] = await codec.decode([once!]);
  expect(defaultPayloadConverter.fromPayload(back!)).toEqual(message);
});

it('passes payloads that are not encrypted through decode, as recorded before the codec', async () => {
  const plain = defaultPayloadConverter.toPayload(message);
  const [out] = await new EncryptionCodec([keyA]).decode([plain]);
  expect(out).toBe(plain);
});

it('decrypts with a rotated-out key kept after the new one, and names the missing key id otherwise', async () => {
  const [sealed] = await new EncryptionCodec([keyA]).encode([defaultPayloadConverter.toPayload(message)]);
  const rotated = new EncryptionCodec([keyB, keyA]);
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([sealed!]))[0]!)).toEqual(message);
  expect(text((await rotated.encode([defaultPayloadConverter.toPayload(1)]))[0]!.metadata!['encryption-key-id'])).toBe('key-b');

  const error = await new EncryptionCodec([keyB]).decode([sealed!]).catch((err: Error) => err);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(/encrypted with key id "key-a", which is not in PAYLOAD_KEYS \(this process has key-b\)/);
  for (const k of [keyA, keyB]) expect((error as Error).message).not.toContain(k.key.toString('base64'));
});

it('refuses a payload that was altered, or decrypted under the right id with the wrong key', async () => {
  const [sealed] = await new EncryptionCodec([keyA]).encode([defaultPayloadConverter.toPayload(message)]);
  const altered = Buffer.from(sealed!.data!);
  altered[20] = altered[20]! ^ 1;
  await expect(new EncryptionCodec([keyA]).decode([{ ...sealed!, data: altered }])).rejects.toThrow(/key id "key-a" does not decrypt/);
  await expect(new EncryptionCodec([{ id: 'key-a', key: keyB.key }]).decode([sealed!])).rejects.toThrow(/does not decrypt/);
});

describe('PAYLOAD_KEYS', () => {
  const good = `${keyB.id}:${keyB.key.toString('base64')},${keyA.id}:${keyA.key.toString('base64')}`;

  it('takes comma-separated <id>:<base64 32 bytes>, the first encrypting', () => {
    expect(payloadCodecFromEnv(loadEnv({ PAYLOAD_KEYS: good })).keyId).toBe('key-b');
  });

  it('names the variable and the key, never the key material', () => {
    const short = crypto.randomBytes(16).toString('base64');
    const cases: [string, RegExp][] = [
      [`k1:${short}`, /PAYLOAD_KEYS: key k1: expected 32 bytes in base64/],
      [`k1:${keyA.key.toString('base64')},k1:${keyB.key.toString('base64')}`, /PAYLOAD_KEYS: key id k1 appears twice/],
      [keyA.key.toString('base64'), /PAYLOAD_KEYS: key #1: expected <keyId>:<base64 of 32 bytes>/],
    ];
    for (const [value, problem] of cases) {
      let error: unknown;
      try {
        loadEnv({ PAYLOAD_KEYS: value });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(EnvError);
      expect((error as Error).message).toMatch(problem);
      for (const material of [short, keyA.key.toString('base64'), keyB.key.toString('base64')]) expect((error as Error).message).not.toContain(material);
    }
  });

  it('is required in production', () => {
    expect(() => payloadCodecFromEnv(loadEnv({ NODE_ENV: 'production' }))).toThrow(/PAYLOAD_KEYS is not set/);
  });

  it('defaults, outside production, to a key file in DATA_DIR made once with mode 0600', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-keys-'));
    try {
      const first = payloadCodecFromEnv(loadEnv({ DATA_DIR: dir }));
      const file = path.join(dir, 'payload-keys');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^dev-\d{8}:[A-Za-z0-9+/]{43}=\n$/);
      expect(payloadCodecFromEnv(loadEnv({ DATA_DIR: dir })).keyId).toBe(first.keyId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it('encrypts a whole history and decrypts it back to the same timeline', async () => {
  const file = path.resolve(__dirname, '..', 'test', 'fixtures', 'histories', 'copilot-session-approvals.json');
  const history = historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
  const codec = new EncryptionCodec([keyA]);
  const sealed = await encodeHistory(history, codec);
  const json = historyToJSON(sealed);
  expect(json).not.toContain(Buffer.from('json/plain').toString('base64'));
  expect(json).toContain(Buffer.from('binary/encrypted').toString('base64'));
  const plainTimeline = timelineOf('s', history);
  expect(plainTimeline.some((t) => t.kind === 'approval')).toBe(true);
  expect(timelineOf('s', await decodeHistory(sealed, codec))).toEqual(plainTimeline);
});
