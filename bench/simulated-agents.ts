/**
 * Simulated endpoints for the benchmarks: the agent's own `--simulate n` mode in a process of its own (so the
 * clients' memory and CPU stay out of the process being measured), and bulk enrollment for thousands of devices.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import type { PrismaClient } from '@prisma/client';
import { saveCredentials, type AgentCredentials } from '../agent/credentials';
import { simulatedName } from '../agent/simulate';
import { environment } from '../lib/env';
import { randomToken, sha256 } from '../lib/secrets';

const root = path.resolve(__dirname, '..');

/**
 * `count` simulated endpoints in one agent process. Their credentials are read from `dataDir` (see
 * writeSimulatedCredentials); the ones missing are enrolled with `key`.
 */
export function spawnSimulatedAgents(opts: { count: number; org: string; server: string; dataDir: string; key?: string }): ChildProcess {
  const args = ['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--simulate', String(opts.count), '--org', opts.org, '--server', opts.server];
  if (opts.key) args.push('--key', opts.key);
  return spawn(process.execPath, args, { cwd: root, env: environment({ DATA_DIR: opts.dataDir, LOG_LEVEL: 'error' }), stdio: ['ignore', 'ignore', 'inherit'] });
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * `count` simulated devices with their credentials, written straight to the database: the rows enrollment writes
 * (a device and the SHA-256 of its secret), in batches. Enrolling thousands one HTTP request at a time would take
 * minutes and run through the api being measured. No `agent.enrolled` audit events are written.
 */
export async function enrollInBulk(
  prisma: PrismaClient,
  opts: { orgId: string; siteId: string; count: number; namePrefix: string; server: string; commandKey: string },
): Promise<AgentCredentials[]> {
  const creds: AgentCredentials[] = Array.from({ length: opts.count }, (_, i) => ({
    server: opts.server,
    deviceId: crypto.randomUUID(),
    secret: randomToken(32),
    orgId: opts.orgId,
    name: `${opts.namePrefix}-${String(i + 1).padStart(5, '0')}`,
    commandKey: opts.commandKey,
  }));
  const BATCH = 1000;
  for (let i = 0; i < creds.length; i += BATCH) {
    const batch = creds.slice(i, i + BATCH);
    await prisma.device.createMany({
      data: batch.map((c) => ({ id: c.deviceId, orgId: c.orgId, siteId: opts.siteId, name: c.name, hostname: c.name, os: 'Windows 11 Pro 23H2 (simulated)', executor: 'simulated' })),
    });
    await prisma.deviceCredential.createMany({ data: batch.map((c) => ({ deviceId: c.deviceId, hash: sha256(c.secret) })) });
  }
  return creds;
}

/** Puts credentials where `--simulate <creds.length> --org <org>` with DATA_DIR=dataDir finds them. */
export async function writeSimulatedCredentials(dataDir: string, org: string, creds: AgentCredentials[]): Promise<void> {
  const dir = path.join(dataDir, 'simulated', org);
  for (const [i, c] of creds.entries()) await saveCredentials(path.join(dir, `${simulatedName(org, i + 1)}.json`), c);
}

/** Deletes devices made by enrollInBulk, with their credentials. */
export async function deleteDevices(prisma: PrismaClient, deviceIds: string[]): Promise<void> {
  await prisma.deviceCredential.deleteMany({ where: { deviceId: { in: deviceIds } } });
  await prisma.device.deleteMany({ where: { id: { in: deviceIds } } });
}
