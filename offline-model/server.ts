/**
 * A local HTTP server speaking the Anthropic Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`),
 * answered by the deterministic planner. The worker talks to it through the real `@anthropic-ai/sdk`; only the
 * base URL differs from production.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { plan, type Message } from './planner';

const MAX_BODY = 10 * 1024 * 1024;

const MessagesRequest = z.object({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(z.any())]) })).min(1),
  system: z.union([z.string(), z.array(z.any())]).optional(),
  tools: z.array(z.object({ name: z.string() }).loose()).optional(),
}).loose();

const tokens = (value: unknown) => Math.max(1, Math.ceil(JSON.stringify(value).length / 4));

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_offline_${Date.now()}` });
  res.end(JSON.stringify(body));
}

function invalid(res: http.ServerResponse, message: string): void {
  send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message } });
}

export function handleMessages(body: unknown): { status: number; body: unknown } {
  const parsed = MessagesRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: `${issue?.path.join('.')}: ${issue?.message}` } } };
  }
  const req = parsed.data;
  const result = plan(req.messages as Message[], (req.tools ?? []).map((t) => t.name));
  return {
    status: 200,
    body: {
      id: `msg_offline_${Date.now().toString(36)}`,
      type: 'message',
      role: 'assistant',
      model: req.model,
      content: result.content,
      stop_reason: result.stopReason,
      stop_sequence: null,
      usage: {
        input_tokens: tokens(req),
        output_tokens: tokens(result.content),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
  };
}

/** Requests answered so far, by endpoint (tests use it to prove that a denied turn never reached the model). */
export interface ModelServerStats {
  messages: number;
  countTokens: number;
  /** The latest Messages API request bodies, as they arrived (tests read what the model was really sent). */
  requests?: unknown[];
}

/** Request bodies kept in `requests`: the latest ones only, so a long benchmark does not grow without end. */
const KEPT_REQUESTS = 500;

export function createOfflineModelServer(stats: ModelServerStats = { messages: 0, countTokens: 0 }): http.Server {
  return http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { ok: true });
    const route = req.url?.split('?')[0];
    if (req.method !== 'POST' || (route !== '/v1/messages' && route !== '/v1/messages/count_tokens')) {
      return send(res, 404, { type: 'error', error: { type: 'not_found_error', message: `${req.method} ${route} not found` } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        send(res, 413, { type: 'error', error: { type: 'request_too_large', message: 'request body too large' } });
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return invalid(res, 'body is not valid JSON');
      }
      if (route === '/v1/messages/count_tokens') {
        stats.countTokens += 1;
        return send(res, 200, { input_tokens: tokens(body) });
      }
      stats.messages += 1;
      if (stats.requests) {
        stats.requests.push(body);
        if (stats.requests.length > KEPT_REQUESTS) stats.requests.shift();
      }
      const out = handleMessages(body);
      send(res, out.status, out.body);
    });
  });
}

export async function startOfflineModel(port: number, host = '127.0.0.1'): Promise<{ server: http.Server; url: string; stats: ModelServerStats }> {
  const stats: ModelServerStats = { messages: 0, countTokens: 0, requests: [] };
  const server = createOfflineModelServer(stats);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: actual } = server.address() as AddressInfo;
  return { server, url: `http://${host}:${actual}`, stats };
}
