/**
 * The remote terminal in Debian's Chromium (playwright-core) against the whole system with the real Linux agent
 * (ACME-HQ-DEMO, a real PTY on this machine): a technician asks for a terminal, an approver approves it in a second
 * browser (typing the device name), the technician types `hostname` and sees this machine's hostname, resizes the
 * window and sees `stty size` change, exits; then the auditor plays the recording back, its SHA-256 matching the
 * audit chain. Screenshots go to data/test-screenshots/terminal-*.png.
 */
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../test/harness';
import { addVirtualAuthenticator, launchChromium, registerPasskey } from '../test/browser';

let sys: TestSystem;
let browser: Browser;
const pageErrors: string[] = [];
const shots = path.resolve(__dirname, '..', 'data', 'test-screenshots');
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `terminal-${name}.png`), fullPage: true });

function person(role: 'technician' | 'approver' | 'auditor') {
  return sys.seed.credentials.find((c) => c.role === role && (role === 'auditor' || c.org === sys.seed.orgs.acme.slug))!;
}

async function signIn(role: 'technician' | 'approver' | 'auditor', passkey?: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  page.on('pageerror', (err) => pageErrors.push(`${role}: ${err.message}`));
  // An approver of T4 calls signs with a passkey: a virtual authenticator, at localhost (no IP address as RP ID).
  if (passkey) await addVirtualAuthenticator(page);
  await page.goto(`${passkey ? sys.url.replace('127.0.0.1', 'localhost') : sys.url}/`);
  await page.getByLabel('Email').fill(person(role).email);
  await page.getByLabel('Password').fill(person(role).password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  if (passkey) await registerPasskey(page, passkey);
  return page;
}

/** Reads `read()` until `ok` holds of it (the page draws asynchronously); the last value read. */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(value).slice(-600)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What the terminal shows, row by row (xterm's DOM renderer). */
const screen = (page: Page) => page.locator('.terminal-box .xterm-rows').innerText();

/** How many times the test typed `stty size` (the resize is polled until the shell sees it: once or more). */
let sttyTyped = 0;

async function sttySize(page: Page): Promise<string> {
  sttyTyped += 1;
  const before = (await screen(page)).match(/^\d+ \d+$/gm)?.length ?? 0;
  await page.keyboard.type('stty size\n');
  const sizes = await eventually(async () => (await screen(page)).match(/^\d+ \d+$/gm) ?? [], (s) => s.length > before, 'stty size to answer');
  return sizes.at(-1)!;
}

beforeAll(async () => {
  sys = await startTestSystem({ agent: true });
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
}, 240_000);

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

it('opens an approved terminal on the Linux demo device, types, resizes, exits, and the auditor plays it back', async () => {
  const tech = await signIn('technician');
  await tech.goto(`${sys.url}/#/terminals`);
  await tech.getByRole('heading', { name: /Terminals/ }).waitFor();
  await tech.getByLabel('Device').selectOption({ label: 'ACME-HQ-DEMO' });
  await tech.getByLabel('Reason (the approver sees it)').fill('check the disk on the demo host');
  await tech.getByRole('button', { name: 'Ask for a terminal' }).click();
  await tech.getByText(/Asked for a terminal on ACME-HQ-DEMO/).waitFor();
  await tech.locator('tr', { hasText: 'waiting for an approver' }).first().waitFor();

  // The approver, in a browser of their own, approves from the approvals queue, typing the device name and signing
  // the call with their passkey.
  const approver = await signIn('approver', 'Security key');
  await approver.goto(`${sys.url.replace('127.0.0.1', 'localhost')}/#/approvals`);
  const card = approver.locator('article.approval', { hasText: 'open_terminal' }).first();
  await card.waitFor({ timeout: 30_000 });
  expect(await card.innerText()).toMatch(/check the disk on the demo host/);
  await card.getByLabel(/Type .* to approve/).fill('ACME-HQ-DEMO');
  await shot(approver, 'approval');
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.getByText('Approved.').waitFor();

  // The technician opens it and types into a real shell on this machine.
  const open = tech.getByRole('link', { name: 'Open terminal' }).first();
  await open.waitFor({ timeout: 30_000 });
  await open.click();
  await tech.getByText(/Connected to ACME-HQ-DEMO/).waitFor({ timeout: 30_000 });
  await tech.locator('.terminal-box .xterm-rows').filter({ hasText: /[$#]/ }).waitFor({ timeout: 20_000 });
  await tech.locator('.terminal-box').click();
  await tech.keyboard.type('hostname\n');
  await eventually(() => screen(tech), (t) => t.includes(os.hostname()), "this machine's hostname");
  const wide = await sttySize(tech);
  await shot(tech, 'open');

  // A smaller window: the terminal refits, the PTY is resized, and the shell sees it.
  await tech.setViewportSize({ width: 800, height: 600 });
  const small = await eventually(() => sttySize(tech), (size) => size !== wide, 'stty size to change', 30_000);
  const [rowsWide, colsWide] = wide.split(' ').map(Number);
  const [rowsSmall, colsSmall] = small.split(' ').map(Number);
  expect(colsSmall!).toBeLessThan(colsWide!);
  expect(rowsSmall!).toBeLessThan(rowsWide!);

  await tech.keyboard.type('exit\n');
  await tech.getByText(/Closed: the shell exited/).waitFor({ timeout: 20_000 });
  await shot(tech, 'closed');

  // The auditor plays the recording back; it matches the SHA-256 in the audit chain.
  const auditor = await signIn('auditor');
  await auditor.goto(`${sys.url}/#/terminals`);
  const play = auditor.getByRole('link', { name: 'Play' }).first();
  await play.waitFor({ timeout: 30_000 });
  await play.click();
  await auditor.getByText('matches the audit chain').waitFor({ timeout: 20_000 });
  await auditor.getByRole('button', { name: 'Show it all' }).click();
  await eventually(() => auditor.locator('.terminal-box .xterm-rows').innerText(), (t) => t.includes(os.hostname()), 'the hostname in the playback');
  const typed = await auditor.locator('.recording-input li').allInnerTexts();
  // Every line typed, in order: the recording holds exactly what the technician typed.
  expect(typed).toEqual(['hostname', ...Array<string>(sttyTyped).fill('stty size'), 'exit']);
  expect(sttyTyped).toBeGreaterThanOrEqual(2);
  await shot(auditor, 'playback');
});
