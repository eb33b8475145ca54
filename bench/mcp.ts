/**
 * bench/mcp: a T1 `tools/call` (get_device_info on a simulated endpoint) through /mcp to the agent and back, with
 * the official MCP SDK client over Streamable HTTP; next to, in the same run on the same machine, the same call
 * through the copilot's tool path (a `/tool` message, which the offline model turns into the same tool_use, from
 * the POST to the answered turn), and a bare MCP SDK server on loopback answering the same tool from memory (the
 * floor: what MCP over HTTP costs with no cage, workflow or agent behind it).
 *   npm run bench -- mcp [--n 200]
 * Fails when a phase has no samples: a bench whose data is missing says so instead of printing ratios of nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { startTestSystem } from '../test/harness';
import { emit, summarize } from './stats';

/** A bare MCP server (stateful Streamable HTTP, one session) answering get_device_info from memory. */
async function bareServer(answer: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = new McpServer({ name: 'bare', version: '1.0.0' });
  server.registerTool('get_device_info', { description: 'Read a device.', inputSchema: { device_id: z.string() } }, async () => ({ content: [{ type: 'text', text: answer }] }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => 'bench' });
  await server.connect(transport);
  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void transport.handleRequest(req, res, chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/mcp`,
    close: async () => {
      await server.close();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}

async function timeCalls(n: number, client: Client, deviceId: string, check: (r: CallToolResult) => void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const result = (await client.callTool({ name: 'get_device_info', arguments: { device_id: deviceId } }, undefined, { timeout: 60_000 })) as CallToolResult;
    times.push(performance.now() - t0);
    check(result);
  }
  return times;
}

const ratio = (a: number, b: number) => Math.round((a / Math.max(b, 0.01)) * 100) / 100;

export async function runMcpBench(n: number): Promise<void> {
  // Rate limits are not what this measures: their windows shrink so one technician can call n times in a row.
  const sys = await startTestSystem({ simulated: 1, env: { RATE_WINDOW_SCALE: '0.001' } });
  const bare = await bareServer('hostname ACME-PC-01, Windows 11, up 3 days');
  const clients: Client[] = [];
  try {
    const tech = sys.keyOf('technician');
    const [deviceName, deviceId] = [...sys.simulated.entries()][0]!;
    const warmup = Math.min(10, Math.max(1, Math.floor(n / 10)));

    // The floor: a bare MCP SDK server answering from memory.
    const bareClient = new Client({ name: 'bench', version: '1.0.0' });
    clients.push(bareClient);
    await bareClient.connect(new StreamableHTTPClientTransport(new URL(bare.url)));
    await timeCalls(warmup, bareClient, deviceId, () => undefined);
    const floor = await timeCalls(n, bareClient, deviceId, (r) => {
      if (r.isError) throw new Error('the bare server answered an error');
    });
    emit({ bench: 'mcp', phase: 'bare-sdk-server', ...summarize(floor) });

    // Through Gatehouse's /mcp: recorded, run by the session's workflow, authorized, executed by the agent, fenced.
    const client = new Client({ name: 'bench', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(`/mcp?org=${sys.seed.orgs.acme.slug}`, sys.url), { requestInit: { headers: { Authorization: `Bearer ${tech}` } } }));
    const answered = (r: CallToolResult) => {
      const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      if (r.isError || !text.includes(deviceName)) throw new Error(`the /mcp call did not come back with the device's answer: ${text.slice(0, 200)}`);
    };
    await timeCalls(warmup, client, deviceId, answered);
    const viaMcp = await timeCalls(n, client, deviceId, answered);
    emit({ bench: 'mcp', phase: 'gatehouse-mcp', ...summarize(viaMcp) });

    // The copilot's tool path: the same call as a message's tool_use, from the POST to the answered turn.
    const sessionId = await sys.startSession(tech);
    const viaCopilot: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      const t0 = performance.now();
      const turnId = await sys.send(sessionId, tech, `/tool get_device_info ${JSON.stringify({ device_id: deviceId })}`);
      const session = await sys.waitForTurn(sessionId, tech, turnId);
      const turn = session.turns.find((t: { turnId: string }) => t.turnId === turnId);
      if (turn?.status !== 'answered' || turn.steps?.find((s: { kind: string }) => s.kind === 'tool')?.status !== 'succeeded') throw new Error(`the copilot turn did not run the tool: ${JSON.stringify(turn).slice(0, 300)}`);
      if (i >= warmup) viaCopilot.push(performance.now() - t0);
    }
    emit({ bench: 'mcp', phase: 'copilot-tool-path', ...summarize(viaCopilot) });

    const [g, c, b] = [summarize(viaMcp), summarize(viaCopilot), summarize(floor)];
    for (const [phase, s] of [['gatehouse-mcp', g], ['copilot-tool-path', c], ['bare-sdk-server', b]] as const) {
      if (s.n !== n || !Number.isFinite(s.p50) || !Number.isFinite(s.p99)) throw new Error(`bench mcp: phase ${phase} has ${s.n} samples of ${n}; no summary without its data`);
    }
    emit({
      bench: 'mcp',
      summary: true,
      n,
      gatehouseMcpMs: { p50: g.p50, p99: g.p99 },
      copilotToolPathMs: { p50: c.p50, p99: c.p99 },
      bareSdkServerMs: { p50: b.p50, p99: b.p99 },
      mcpOverCopilot: { p50: ratio(g.p50, c.p50), p99: ratio(g.p99, c.p99) },
      mcpOverBare: { p50: ratio(g.p50, b.p50), p99: ratio(g.p99, b.p99) },
    });
  } finally {
    await Promise.all(clients.map((cl) => cl.close().catch(() => undefined)));
    await bare.close();
    await sys.stop();
  }
}
