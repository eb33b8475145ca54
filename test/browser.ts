/** Where the browser tests find Chromium: Debian's package, installed by `npm test`'s set-up when missing. */
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadEnv } from '../lib/env';

export const CHROMIUM_PATH = loadEnv().CHROMIUM_PATH;

/** Debian's Chromium, headless, as every browser test runs it (no sandbox as root, no background requests). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-background-networking'] });
}

/**
 * Gives a page Chromium's virtual authenticator (CDP WebAuthn, user verified, presence simulated), as an approver of
 * T4 calls needs. Open such a page at localhost, not 127.0.0.1: browsers refuse an IP address as a WebAuthn RP ID.
 */
export async function addVirtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
}

/** Registers a passkey of that name in the signed-in console (its Passkeys page). */
export async function registerPasskey(page: Page, name: string): Promise<void> {
  await page.getByRole('link', { name: 'Passkeys' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Register a passkey' }).click();
  await page.getByText(`Registered ${name}.`).waitFor();
}
