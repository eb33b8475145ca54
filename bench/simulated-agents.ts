/**
 * Simulated endpoints for the benchmarks: the agent's own `--simulate n` mode in a process of its own (so the
 * clients' memory and CPU stay out of the process being measured), and bulk enrollment for thousands of devices.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PrismaClient } from '@prisma/client';
import { environment } from '../lib/env';

const root = path.resolve(__dirname, '..');

/**
 * `count` simulated endpoints in one agent process. Their credentials are read from `dataDir` (see
 * writeSimulatedCredentials); the ones missing are enrolled with `key`.
 */
export function spawnSimulatedAgents(opts: { count: number; org: string; server: string; dataDir: string; key?: string; nice?: number; logFile?: string }): ChildProcess {
  const args = ['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--simulate', String(opts.count), '--org', opts.org, '--server', opts.server];
  if (opts.key) args.push('--key', opts.key);
  // With a log file: the agents' warnings (every failed attempt to connect, and why) go there.
  const log = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, args, { cwd: root, env: environment({ DATA_DIR: opts.dataDir, LOG_LEVEL: opts.logFile ? 'warn' : 'error' }), stdio: ['ignore', log, 'inherit'] });
  if (typeof log === 'number') closeSync(log);
  // Endpoints are other machines: on this one they must not take the CPU from the api being measured. Ten agent
  // processes beside one api got it an eleventh of the cores, and 20,000 handshakes waited in its accept queue.
  if (opts.nice !== undefined && child.pid !== undefined) os.setPriority(child.pid, opts.nice);
  return child;
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

export { enrollInBulk, writeSimulatedCredentials } from '../test/simulated-fleet';

/** Deletes devices made by enrollInBulk, with their credentials. */
export async function deleteDevices(prisma: PrismaClient, deviceIds: string[]): Promise<void> {
  await prisma.deviceCredential.deleteMany({ where: { deviceId: { in: deviceIds } } });
  await prisma.device.deleteMany({ where: { id: { in: deviceIds } } });
}
