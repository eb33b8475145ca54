import os from 'node:os';
import type { AgentCredentials } from './credentials';
import { AGENT_VERSION } from './version';

const ATTEMPTS = 5;

/**
 * POSTs, trying again (1 s, 2 s, 4 s, 8 s apart) while the server cannot be reached or answers 5xx: a fleet
 * rolled out at once must not lose devices to one busy moment. A refusal (4xx) is final. A failed enrollment
 * commits nothing (the key's use is counted in the same transaction), so trying again is safe.
 */
async function post(url: URL, body: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch((err: unknown) => err as Error);
    const final = attempt === ATTEMPTS || (res instanceof Response && res.status < 500);
    if (final) {
      if (res instanceof Error) throw new Error(`could not reach ${url.origin}: ${res.message}`);
      return res;
    }
    await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)));
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Why enrolling with this server would be unsafe, or undefined. Over plain http:// to another machine the
 * enrollment key, the device secret and the server's command-signing key (trusted on first use) cross the network
 * in clear: anyone on the path could take the secret or plant their own key and sign commands.
 */
export function insecureEnrollment(server: string): string | undefined {
  const url = new URL(server);
  if (url.protocol !== 'http:' || LOOPBACK.test(url.hostname)) return undefined;
  return `${url.origin} is plain http:// to another machine: the enrollment key, this device's secret and the server's command key would travel unencrypted, and anyone on the path could read them or swap the key`;
}

/** Exchanges an enrollment key for this device's id and secret. Plain http:// to another host needs `allowInsecureHttp`. */
export async function enroll(opts: { server: string; key: string; name?: string; executor: 'linux' | 'simulated'; allowInsecureHttp?: boolean; warn?: (message: string) => void }): Promise<AgentCredentials> {
  const insecure = insecureEnrollment(opts.server);
  if (insecure && !opts.allowInsecureHttp) throw new Error(`refusing to enroll: ${insecure}. Use https://, or pass --allow-insecure-http on a network you trust.`);
  if (insecure) (opts.warn ?? console.warn)(`WARNING: enrolling although ${insecure} (--allow-insecure-http).`);
  const simulated = opts.executor === 'simulated';
  const body = {
    key: opts.key,
    hostname: simulated && opts.name ? opts.name : os.hostname(),
    name: opts.name,
    os: simulated ? 'Windows 11 Pro 23H2 (simulated)' : `${os.type()} ${os.release()}`,
    executor: opts.executor,
    agentVersion: AGENT_VERSION,
  };
  const res = await post(new URL('/v1/agents/enroll', opts.server), JSON.stringify(body));
  const json = (await res.json().catch(() => ({}))) as { deviceId?: string; secret?: string; orgId?: string; name?: string; commandKey?: string; error?: { message?: string } };
  if (res.status !== 201 || !json.deviceId || !json.secret || !json.orgId || !json.commandKey) {
    throw new Error(`enrollment refused (HTTP ${res.status}): ${json.error?.message ?? 'no reason given'}`);
  }
  return { server: opts.server, deviceId: json.deviceId, secret: json.secret, orgId: json.orgId, name: json.name ?? body.hostname, commandKey: json.commandKey };
}
