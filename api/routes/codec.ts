/**
 * The codec endpoint of the Temporal Web UI: `POST /codec/decode` takes the UI's `{ payloads: [{ metadata, data }] }`
 * (protobuf JSON, bytes in base64) and answers the same shape decrypted with PAYLOAD_KEYS, so the UI shows a
 * history's inputs and results to a person signed in to Gatehouse. Only decode: the UI never needs to encrypt.
 *
 * Who may decode (auditors of every organization of their partner, and partner admins) and the audit of each
 * decode are services/codec.ts's.
 *
 * The UI calls from its own origin (TEMPORAL_UI_URL) with the session cookie: CORS allows that origin only, with
 * credentials. The call changes nothing (it reads), so it needs no CSRF token, which the UI could not send.
 */
import { CodecAnswer } from '../../common/api-answers';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { defineRoute, type AnyRoute } from '../http/route';
import { decodeHistoryPayloads } from '../services/codec';

/** The UI sends one history event's payloads at a time; Temporal refuses a payload over 2 MB (base64: 4/3 of it). */
export const CODEC_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
const MAX_PAYLOADS = 1000;

const Base64 = z.string().max(CODEC_BODY_LIMIT_BYTES).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
const WirePayload = z
  .object({
    metadata: z
      .record(z.string().min(1).max(256), Base64.max(4096))
      .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata entries')
      .optional(),
    data: Base64.optional(),
  })
  .strict();
export const CodecBody = z.object({ payloads: z.array(WirePayload).max(MAX_PAYLOADS) }).strict();
type WirePayload = z.infer<typeof WirePayload>;

const Namespace = z.string().min(1).max(256);

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toWire = (p: Payload): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/**
 * CORS for `/codec`: the Temporal UI's origin, with credentials (the session cookie), and its preflight (it sends
 * Content-Type and X-Namespace, and Authorization when set to pass its own token). Any other origin gets no allow
 * header, so a browser keeps the answer from the page that asked.
 */
export function codecCors(temporalUiUrl: string): RequestHandler {
  const uiOrigin = new URL(temporalUiUrl).origin;
  return (req, res, next) => {
    res.vary('Origin');
    if (req.headers.origin === uiOrigin) {
      res.set({ 'Access-Control-Allow-Origin': uiOrigin, 'Access-Control-Allow-Credentials': 'true' });
      if (req.method === 'OPTIONS') {
        res.set({ 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization', 'Access-Control-Max-Age': '600' });
      }
    }
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  };
}

export const decodePayloads = defineRoute({
  method: 'post',
  path: '/codec/decode',
  summary: "The Temporal Web UI's codec endpoint: decrypts history payloads for a signed-in auditor or partner admin",
  tag: 'audit',
  auth: 'user',
  readOnlyPost: true,
  body: CodecBody,
  responses: { 200: 'The payloads, decoded, in the same shape', 400: 'Malformed payloads, or one encrypted with a key this deployment lacks', 401: 'Not signed in', 403: 'Neither an auditor of every organization nor a partner admin' },
  response: CodecAnswer,
  async handler(ctx) {
    const ns = Namespace.safeParse(ctx.req.get('x-namespace') ?? ctx.deps.config.temporalNamespace);
    if (!ns.success) throw new AppError(AppErrorCode.BadRequest, 'X-Namespace: expected a namespace name of at most 256 characters');
    const decoded = await decodeHistoryPayloads(ctx, ns.data, ctx.body.payloads.map(fromWire));
    return { status: 200, body: { payloads: decoded.map(toWire) } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const codecRoutes: AnyRoute[] = [decodePayloads];
