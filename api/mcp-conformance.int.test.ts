/**
 * The MCP conformance suite (`@modelcontextprotocol/conformance`, pinned at 0.1.12: later releases need Node 22)
 * run against /mcp on a test system, every server scenario of its active suite. The suite sends no credentials, so
 * it reaches /mcp through a loopback proxy that adds the technician's Bearer key to each request and changes nothing
 * else (bodies and event streams pass through as they are).
 *
 * Gatehouse cannot pass every scenario, and should not: many call test tools, prompts and resources of the suite's
 * own reference server (`test_simple_text`, `test_sampling`, …), which a cage with a fixed catalog does not have.
 * EXPECTED_FAILURES names each, with why; the test fails when the set changes either way (a new failure, or one
 * that now passes and should leave the list). docs/mcp.md repeats the list.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestSystem, type TestSystem } from '../test/harness';

const conformance = require.resolve('@modelcontextprotocol/conformance/dist/index.js');
const inspector = require.resolve('@modelcontextprotocol/inspector-cli/build/cli.js');

let sys: TestSystem;
let proxy: http.Server;
let proxyUrl: string;
beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1 });
  const target = new URL(`/mcp?org=${sys.seed.orgs.acme.slug}`, sys.url);
  const key = sys.keyOf('technician');
  proxy = http.createServer((req, res) => {
    const upstream = http.request(target, { method: req.method, headers: { ...req.headers, authorization: `Bearer ${key}` } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`;
}, 180_000);
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await sys?.stop();
});

/**
 * Every scenario of the active suite that /mcp fails, and why. The test fails when this set changes.
 */
const SUITE_TOOL = "calls a test tool of the suite's reference server; Gatehouse's catalog is its own tools and the org's registered upstreams, and an unknown tool is refused before any handler (JSON-RPC -32602)";
const NO_RESOURCES = 'Gatehouse offers tools only: no resources capability, so resources/* answer -32601 (method not found), as the spec says for a capability not declared';
const NO_PROMPTS = 'Gatehouse offers tools only: no prompts capability, so prompts/* answer -32601 (method not found)';
const EXPECTED_FAILURES: Record<string, string> = {
  'completion-complete': 'completion/complete completes prompt and resource arguments; Gatehouse has neither, so no completions capability (-32601)',
  'tools-call-simple-text': SUITE_TOOL,
  'tools-call-image': SUITE_TOOL,
  'tools-call-audio': SUITE_TOOL,
  'tools-call-embedded-resource': SUITE_TOOL,
  'tools-call-mixed-content': SUITE_TOOL,
  'tools-call-with-logging': SUITE_TOOL,
  'tools-call-error': SUITE_TOOL,
  'tools-call-with-progress': `${SUITE_TOOL} (Gatehouse's own calls send progress while they wait: api/mcp.int.test.ts)`,
  'tools-call-sampling': `${SUITE_TOOL}; Gatehouse never asks the client's model to sample (its model is its own, behind the cage)`,
  'tools-call-elicitation': `${SUITE_TOOL}; Gatehouse asks humans through its approval channels, not through the agent's client`,
  'elicitation-sep1034-defaults': `${SUITE_TOOL} (elicitation)`,
  'elicitation-sep1330-enums': `${SUITE_TOOL} (elicitation)`,
  'resources-list': NO_RESOURCES,
  'resources-read-text': NO_RESOURCES,
  'resources-read-binary': NO_RESOURCES,
  'resources-templates-read': NO_RESOURCES,
  'resources-subscribe': NO_RESOURCES,
  'resources-unsubscribe': NO_RESOURCES,
  'prompts-list': NO_PROMPTS,
  'prompts-get-simple': NO_PROMPTS,
  'prompts-get-with-args': NO_PROMPTS,
  'prompts-get-embedded-resource': NO_PROMPTS,
  'prompts-get-with-image': NO_PROMPTS,
};

function run(args: string[], script = conformance, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { cwd, timeout: 300_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

it('runs the conformance suite against /mcp: every scenario passes but those named and explained in EXPECTED_FAILURES', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-conformance-'));
  try {
    const { stdout } = await run(['server', '--url', proxyUrl, '--output-dir', out]);
    // One folder per scenario (server-<scenario>-<time>), its checks in checks.json.
    const outcomes = new Map<string, boolean>();
    for (const dir of readdirSync(out)) {
      const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir)?.[1];
      if (!scenario) continue;
      const checks = JSON.parse(readFileSync(path.join(out, dir, 'checks.json'), 'utf8')) as { status: string }[];
      outcomes.set(scenario, checks.length > 0 && checks.every((c) => c.status === 'SUCCESS' || c.status === 'INFO' || c.status === 'WARNING'));
    }
    // The suite ran (its summary line), and ran what it lists: not an empty pass.
    expect(stdout).toMatch(/Total: \d+ passed, \d+ failed/);
    expect(outcomes.size).toBeGreaterThanOrEqual(30);
    const failed = [...outcomes].filter(([, ok]) => !ok).map(([s]) => s).sort();
    expect(failed).toEqual(Object.keys(EXPECTED_FAILURES).sort());
    // What Gatehouse does pass: the handshake, ping, listing, the Streamable HTTP streams, logging/setLevel, DNS rebinding protection.
    expect([...outcomes].filter(([, ok]) => ok).map(([s]) => s).sort()).toEqual(['dns-rebinding-protection', 'logging-set-level', 'ping', 'server-initialize', 'server-sse-multiple-streams', 'tools-list']);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 400_000);

it("lists and calls a tool with the MCP inspector CLI, as docs/mcp.md shows (the technician's key in a header)", async () => {
  const url = new URL(`/mcp?org=${sys.seed.orgs.acme.slug}`, sys.url).toString();
  const common = ['--cli', url, '--transport', 'http', '--header', `Authorization: Bearer ${sys.keyOf('technician')}`];
  // Run from a folder of the repository, as docs/mcp.md says: inspector-cli 1.0.3 looks for its package.json relative
  // to the working directory (modelcontextprotocol/inspector#1334) and fails from a folder with no ../package.json.
  const docs = path.resolve(__dirname, '..', 'docs');
  const listed = await run([...common, '--method', 'tools/list'], inspector, docs);
  expect(listed).toMatchObject({ code: 0 });
  const { tools } = JSON.parse(listed.stdout.slice(listed.stdout.indexOf('{'))) as { tools: { name: string }[] };
  expect(tools.map((t) => t.name)).toContain('get_device_info');
  const device = await sys.prisma.device.findFirstOrThrow({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated' } });
  const called = await run([...common, '--method', 'tools/call', '--tool-name', 'get_device_info', '--tool-arg', `device_id=${device.id}`], inspector, docs);
  expect(called.code).toBe(0);
  const result = JSON.parse(called.stdout.slice(called.stdout.indexOf('{'))) as { isError: boolean; content: { text: string }[] };
  expect(result.isError).toBe(false);
  expect(result.content[0]?.text).toContain(device.name);
}, 120_000);
