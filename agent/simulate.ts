/**
 * `--simulate n`: n simulated Windows-like endpoints in one process, each enrolled as its own device with its own
 * credential (kept under data/simulated/<org>/ and reused on the next run).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../lib/logger';
import { connectAgent, type AgentConnection } from './connection';
import { loadCredentials, saveCredentials, type AgentCredentials } from './credentials';
import { enroll } from './enroll';
import { createSimulatedExecutor, SimulatedMachine, SimulatedProfile } from './executors/simulated';
import { simulatedPtyFactory } from './terminals/simulated-shell';

export function simulatedName(org: string, i: number): string {
  return `${org.toUpperCase()}-PC-${String(i).padStart(2, '0')}`;
}

/** An enrollment key for n devices: the one given, or one minted with an org admin's API key. */
async function enrollmentKey(opts: { server: string; org: string; count: number; key?: string; apiKey?: string; dataDir: string }): Promise<string> {
  if (opts.key) return opts.key;
  let apiKey = opts.apiKey;
  const demo = path.join(opts.dataDir, 'demo-credentials.json');
  if (!apiKey && existsSync(demo)) {
    const creds = JSON.parse(await readFile(demo, 'utf8')) as { role: string; org: string; apiKey: string }[];
    apiKey = creds.find((c) => c.role === 'admin' && c.org === opts.org)?.apiKey;
  }
  if (!apiKey) throw new Error('pass --key <enrollment key>, or an org admin API key with --api-key (or GATEHOUSE_API_KEY)');
  const res = await fetch(new URL('/v1/enrollment-keys', opts.server), {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ org: opts.org, maxUses: opts.count, ttlMinutes: 30 }),
  });
  const body = (await res.json().catch(() => ({}))) as { key?: string; error?: { message?: string } };
  if (res.status !== 201 || !body.key) throw new Error(`could not get an enrollment key (HTTP ${res.status}): ${body.error?.message ?? 'no reason given'}`);
  return body.key;
}

export async function runSimulation(opts: {
  count: number;
  /** The number in the first device's name (1 unless several processes share a fleet). */
  first?: number;
  org: string;
  server: string;
  key?: string;
  apiKey?: string;
  dataDir: string;
  rebootSeconds?: number;
  /** Terminals at once per simulated device (each gets the small simulated shell). */
  maxTerminals?: number;
  /** A JSON file of how some devices differ (SimulatedProfile: a service that fails to start, …). */
  profileFile?: string;
  logger: Logger;
}): Promise<{ names: string[]; connections: AgentConnection[]; stop(): void }> {
  const dir = path.join(opts.dataDir, 'simulated', opts.org);
  const names = Array.from({ length: opts.count }, (_, i) => simulatedName(opts.org, (opts.first ?? 1) + i));
  const creds: AgentCredentials[] = [];
  // A credential from before signed commands has no server key: that device enrolls again.
  const usable = async (n: string) => existsSync(path.join(dir, `${n}.json`)) && Boolean((await loadCredentials(path.join(dir, `${n}.json`)).catch(() => null))?.commandKey);
  const missing: string[] = [];
  for (const n of names) if (!(await usable(n))) missing.push(n);
  const key = missing.length ? await enrollmentKey({ ...opts, count: missing.length }) : undefined;
  for (const name of names) {
    const file = path.join(dir, `${name}.json`);
    if (!missing.includes(name)) {
      creds.push(await loadCredentials(file));
      continue;
    }
    const c = await enroll({ server: opts.server, key: key!, name, executor: 'simulated' });
    await saveCredentials(file, c);
    creds.push(c);
  }
  const profile = opts.profileFile ? await readProfile(opts.profileFile) : { devices: {} };
  const connections = creds.map((credentials) => {
    const machine = new SimulatedMachine(credentials.name, profileOf(profile, credentials.name));
    return connectAgent({
      credentials: { ...credentials, server: opts.server },
      journalFile: path.join(dir, `${credentials.name}.journal.jsonl`),
      logger: opts.logger.child({ device: credentials.name }),
      executor: (conn) => createSimulatedExecutor(machine, { rebootSeconds: opts.rebootSeconds, onReboot: (s) => conn.goOffline(s * 1000) }),
      terminals: { spawn: simulatedPtyFactory(credentials.name), max: opts.maxTerminals ?? 4 },
    });
  });
  return {
    names,
    connections,
    stop() {
      for (const c of connections) c.stop();
    },
  };
}

/** The profile file, checked: a mistake in it stops the simulator with the problem named, rather than being ignored. */
async function readProfile(file: string): Promise<SimulatedProfile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`--simulate-profile ${file}: not readable JSON (${(err as Error).message})`);
  }
  const parsed = SimulatedProfile.safeParse(raw);
  if (!parsed.success) throw new Error(`--simulate-profile ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'profile'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** A device's profile: the entry of its name, or of a pattern with `*` matching it (`*-PC-07`); none is the default. */
function profileOf(profile: SimulatedProfile, name: string) {
  if (profile.devices[name]) return profile.devices[name];
  const pattern = Object.keys(profile.devices).find((k) => k.includes('*') && new RegExp(`^${k.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i').test(name));
  return pattern ? profile.devices[pattern] : undefined;
}
