/**
 * A small upstream MCP server for the tests, over Streamable HTTP on 127.0.0.1 (stateless: a server per request, as
 * the SDK's example does), whose tool definitions the test changes while it runs: the way a vendor's server that
 * changes a description after it was approved (a "rug pull"), or ships a poisoned one, looks to Gatehouse. Its
 * tools answer from memory and count their calls.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';

export interface TestUpstream {
  url: string;
  /** The tools as listed now: change one and the next tools/list says so. */
  tools: Tool[];
  /** Calls received, by tool name. */
  calls: Map<string, number>;
  close(): Promise<void>;
}

export async function startTestUpstream(tools: Tool[], answer: (name: string, args: Record<string, unknown>) => string = (name, args) => `${name}: ${JSON.stringify(args)}`): Promise<TestUpstream> {
  const state: TestUpstream = { url: '', tools, calls: new Map(), close: async () => undefined };
  const serverFor = () => {
    const server = new Server({ name: 'test-upstream', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: state.tools }));
    server.setRequestHandler(CallToolRequestSchema, async (req) => {
      state.calls.set(req.params.name, (state.calls.get(req.params.name) ?? 0) + 1);
      return { content: [{ type: 'text', text: answer(req.params.name, req.params.arguments ?? {}) }] };
    });
    return server;
  };
  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        const server = serverFor();
        res.on('close', () => void transport.close().then(() => server.close()));
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
      })().catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`;
  state.close = () => new Promise((resolve) => httpServer.close(() => resolve()));
  return state;
}
