/**
 * Secrets a partner admin hands us to keep (an OIDC client secret) are stored sealed with the payload keys
 * (lib/payload-codec.ts: AES-256-GCM, the key id in the clear), so a database dump alone does not reveal them and a
 * rotated key still opens old ones. The stored text is the sealed Temporal Payload, base64.
 */
import type { PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const Payload = temporal.api.common.v1.Payload;

export async function sealSecret(codec: PayloadCodec, plain: string): Promise<string> {
  const [sealed] = await codec.encode([{ metadata: { encoding: Buffer.from('binary/plain') }, data: Buffer.from(plain, 'utf8') }]);
  return Buffer.from(Payload.encode(sealed!).finish()).toString('base64');
}

export async function openSecret(codec: PayloadCodec, stored: string): Promise<string> {
  const [plain] = await codec.decode([Payload.decode(Buffer.from(stored, 'base64'))]);
  return Buffer.from(plain!.data ?? []).toString('utf8');
}
