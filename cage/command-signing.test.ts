import crypto from 'node:crypto';
import { generateSigningKeyPem, loadSigningKey, signCommand, verifyCommand, type SignedCommand } from './command-signing';

const key = loadSigningKey(generateSigningKeyPem());
const cmd: SignedCommand = {
  v: 1,
  commandId: 'c1',
  deviceId: 'd1',
  kind: 'manage_service',
  params: { service: 'Spooler', action: 'restart' },
  expiresAt: '2026-11-21T10:00:00.000Z',
  timeoutSeconds: 120,
  approvalDigest: 'a'.repeat(64),
};

it('verifies what the server signed, whatever the order of the fields', () => {
  const signature = signCommand(key, cmd);
  const { approvalDigest, ...rest } = cmd;
  const reordered = { approvalDigest, ...rest, params: { action: 'restart', service: 'Spooler' } };
  expect(verifyCommand(key.publicKeyPem, reordered, signature)).toBe(true);
});

it.each([
  ['altered parameters', { params: { service: 'Spooler', action: 'stop' } }],
  ['another device', { deviceId: 'd2' }],
  ['another approval', { approvalDigest: 'b'.repeat(64) }],
  ['no approval', { approvalDigest: null }],
  ['a later expiry', { expiresAt: '2026-11-22T10:00:00.000Z' }],
  ['a longer timeout', { timeoutSeconds: 3600 }],
])('refuses %s', (_, change) => {
  const signature = signCommand(key, cmd);
  expect(verifyCommand(key.publicKeyPem, { ...cmd, ...change }, signature)).toBe(false);
});

it('refuses unsigned commands, garbage signatures and another server key', () => {
  expect(verifyCommand(key.publicKeyPem, cmd, undefined)).toBe(false);
  expect(verifyCommand(key.publicKeyPem, cmd, 'not base64 at all!')).toBe(false);
  const other = loadSigningKey(generateSigningKeyPem());
  expect(verifyCommand(key.publicKeyPem, cmd, signCommand(other, cmd))).toBe(false);
  expect(verifyCommand('not a key', cmd, signCommand(key, cmd))).toBe(false);
});

it('accepts only Ed25519 keys', () => {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  expect(() => loadSigningKey(rsa)).toThrow(/Ed25519/);
});
