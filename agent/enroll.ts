import os from 'node:os';
import type { AgentCredentials } from './credentials';
import { AGENT_VERSION } from './version';

/** Exchanges an enrollment key for this device's id and secret. */
export async function enroll(opts: { server: string; key: string; name?: string; executor: 'linux' | 'simulated' }): Promise<AgentCredentials> {
  const simulated = opts.executor === 'simulated';
  const body = {
    key: opts.key,
    hostname: simulated && opts.name ? opts.name : os.hostname(),
    name: opts.name,
    os: simulated ? 'Windows 11 Pro 23H2 (simulated)' : `${os.type()} ${os.release()}`,
    executor: opts.executor,
    agentVersion: AGENT_VERSION,
  };
  const res = await fetch(new URL('/v1/agents/enroll', opts.server), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { deviceId?: string; secret?: string; orgId?: string; name?: string; commandKey?: string; error?: { message?: string } };
  if (res.status !== 201 || !json.deviceId || !json.secret || !json.orgId || !json.commandKey) {
    throw new Error(`enrollment refused (HTTP ${res.status}): ${json.error?.message ?? 'no reason given'}`);
  }
  return { server: opts.server, deviceId: json.deviceId, secret: json.secret, orgId: json.orgId, name: json.name ?? body.hostname, commandKey: json.commandKey };
}
