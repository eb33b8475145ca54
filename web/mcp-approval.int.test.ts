/**
 * A T3 call made over MCP, approved in the console: the official MCP SDK client (as the technician) asks /mcp to
 * restart a service; the call waits, with progress, while an approver signs in to the console in Debian's Chromium
 * and approves it from the approvals queue; the MCP call then returns the device's answer, and the command ran once.
 * The technician's console lists the MCP session with the client's name. Screenshots go to
 * data/test-screenshots/mcp-*.png.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startTestSystem, type TestSystem } from '../test/harness';
import { launchChromium } from '../test/browser';

let sys: TestSystem;
let browser: Browser;
const pageErrors: string[] = [];
const shots = path.resolve(__dirname, '..', 'data', 'test-screenshots');
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `mcp-${name}.png`), fullPage: true });
const person = (role: 'technician' | 'approver') => sys.seed.credentials.find((c) => c.role === role && c.org === sys.seed.orgs.acme.slug)!;

async function signIn(role: 'technician' | 'approver'): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  page.on('pageerror', (err) => pageErrors.push(`${role}: ${err.message}`));
  await page.goto(`${sys.url}/`);
  await page.getByLabel('Email').fill(person(role).email);
  await page.getByLabel('Password').fill(person(role).password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1 });
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

it('holds a T3 call made by the MCP SDK client until an approver approves it in the console, then returns its result', async () => {
  const device = await sys.prisma.device.findFirstOrThrow({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated' } });
  const transport = new StreamableHTTPClientTransport(new URL(`/mcp?org=${sys.seed.orgs.acme.slug}`, sys.url), { requestInit: { headers: { Authorization: `Bearer ${sys.keyOf('technician')}` } } });
  const client = new Client({ name: 'claude-code', version: '2.1.0' });
  await client.connect(transport);
  try {
    const heard: string[] = [];
    const pending = client.callTool({ name: 'manage_service', arguments: { device_id: device.id, service: 'Spooler', action: 'restart' } }, undefined, {
      timeout: 120_000,
      resetTimeoutOnProgress: true,
      onprogress: (p) => heard.push(p.message ?? ''),
    }) as Promise<CallToolResult>;
    let settled = false;
    void pending.finally(() => (settled = true));

    // The approver decides in the console, from the approvals queue, in a browser of their own.
    const approver = await signIn('approver');
    await approver.getByRole('link', { name: 'Approvals' }).click();
    const card = approver.getByRole('article', { name: /Approval T3: .*manage_service.*Spooler/ });
    await card.waitFor({ timeout: 30_000 });
    expect(await card.innerText()).toContain(device.name);
    expect(settled).toBe(false);
    expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } })).toBe(0);
    await card.getByLabel('Reason (required to reject)').fill('printing is down, asked from Claude Code');
    await shot(approver, 'approval');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText('Approved.').waitFor();

    // The MCP call returns the device's answer; it heard that it waited for an approver.
    const result = await pending;
    expect(result.isError).toBe(false);
    expect(result.content.map((c) => (c.type === 'text' ? c.text : '')).join('')).toMatch(/Spooler/);
    expect(heard.some((m) => /waiting for an approver/.test(m))).toBe(true);
    expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } })).toBe(1);

    // The technician's console lists the session beside copilot sessions, with the client as it named itself.
    const tech = await signIn('technician');
    await tech.getByText('MCP: claude-code 2.1.0').first().waitFor({ timeout: 15_000 });
    await shot(tech, 'session-list');
  } finally {
    await client.close();
  }
  expect(pageErrors).toEqual([]);
});
