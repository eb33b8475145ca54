/**
 * A hostile model: a real HTTP server on a loopback port speaking the Anthropic Messages API (`POST /v1/messages`,
 * `POST /v1/messages/count_tokens`), which the worker's real `@anthropic-ai/sdk` client talks to. Unlike the
 * offline model it does not plan: each turn follows a script the test wrote (from a fast-check seed, so a run is
 * reproducible), whatever the conversation says. Scripts ask for unknown tools, wrong-typed and huge inputs, other
 * orgs' devices, repeated `tool_use` ids and T3/T4 calls; the cage has to hold against all of it.
 *
 * A turn finds its script by a tag in the user's message (`[run:<tag>]`): the step is the number of assistant
 * messages after the last tagged user message, so concurrent sessions and retried calls get the same answer.
 * Every request body is kept, so the invariants can check what reached the model.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface HostileToolUse {
  id: string;
  name: string;
  input: unknown;
}

/** One model step: some text, and the tool calls to ask for (none ends the turn). */
export interface HostileReply {
  text: string;
  toolUses: HostileToolUse[];
}

export interface RecordedRequest {
  /** The tag of the turn the request belongs to (undefined when the conversation carries none). */
  tag: string | undefined;
  /** The raw JSON body, as the worker sent it. */
  raw: string;
  body: MessagesRequest;
}

const MAX_BODY = 32 * 1024 * 1024;
const TAG = /\[run:([A-Za-z0-9_-]{1,64})\]/g;

// Only what the server needs to answer; the rest of the request is kept raw for the checks.
const MessagesRequest = z
  .object({
    model: z.string().min(1),
    max_tokens: z.number().int().positive(),
    messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(z.object({ type: z.string() }).loose())]) })).min(1),
  })
  .loose();
export type MessagesRequest = z.infer<typeof MessagesRequest>;

export const turnTag = (tag: string) => `[run:${tag}]`;

/** Every text a user block of the request carries (text blocks and string contents). */
function userTexts(message: MessagesRequest['messages'][number]): string[] {
  if (typeof message.content === 'string') return [message.content];
  return message.content.flatMap((b) => (b.type === 'text' && typeof b.text === 'string' ? [b.text] : []));
}

/** The tag of the last tagged user message, and how many assistant steps followed it. */
export function locate(messages: MessagesRequest['messages']): { tag: string; step: number } | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    const tags = userTexts(m).flatMap((t) => [...t.matchAll(TAG)].map((x) => x[1]!));
    const tag = tags.at(-1);
    if (tag) return { tag, step: messages.slice(i + 1).filter((n) => n.role === 'assistant').length };
  }
  return undefined;
}

const tokens = (value: unknown) => Math.max(1, Math.ceil(JSON.stringify(value).length / 4));

export class HostileModel {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<string, HostileReply[]>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<HostileModel> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const model = new HostileModel(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => model.handle(req, res));
    return model;
  }

  /** What the model answers in the turn whose message carries `turnTag(tag)`, step by step. */
  script(tag: string, steps: HostileReply[]): void {
    this.scripts.set(tag, steps);
  }

  reply(body: MessagesRequest): HostileReply {
    const at = locate(body.messages);
    const steps = at ? this.scripts.get(at.tag) : undefined;
    return steps?.[at!.step] ?? { text: 'Done.', toolUses: [] };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_hostile_${this.requests.length}` });
      res.end(JSON.stringify(body));
    };
    const route = req.url?.split('?')[0];
    if (req.method !== 'POST' || (route !== '/v1/messages' && route !== '/v1/messages/count_tokens')) {
      return send(404, { type: 'error', error: { type: 'not_found_error', message: `${req.method} ${route} not found` } });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return send(413, { type: 'error', error: { type: 'request_too_large', message: 'request body too large' } });
      const raw = Buffer.concat(chunks).toString('utf8');
      let parsed;
      try {
        parsed = MessagesRequest.safeParse(JSON.parse(raw));
      } catch {
        return send(400, { type: 'error', error: { type: 'invalid_request_error', message: 'body is not valid JSON' } });
      }
      if (!parsed.success) return send(400, { type: 'error', error: { type: 'invalid_request_error', message: parsed.error.issues[0]?.message ?? 'invalid' } });
      if (route === '/v1/messages/count_tokens') return send(200, { input_tokens: tokens(parsed.data) });
      this.requests.push({ tag: locate(parsed.data.messages)?.tag, raw, body: parsed.data });
      const reply = this.reply(parsed.data);
      const content = [
        ...(reply.text ? [{ type: 'text', text: reply.text }] : []),
        ...reply.toolUses.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input })),
      ];
      send(200, {
        id: `msg_hostile_${this.requests.length}`,
        type: 'message',
        role: 'assistant',
        model: parsed.data.model,
        content: content.length ? content : [{ type: 'text', text: 'Done.' }],
        stop_reason: reply.toolUses.length ? 'tool_use' : 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: tokens(parsed.data), output_tokens: tokens(content), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
