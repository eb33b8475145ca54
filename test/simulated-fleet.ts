/**
 * Simulated fleets of thousands for the harness and the benchmarks: the rows enrollment writes (a device and the
 * SHA-256 of its secret), written in batches, and the credential files the agent's `--simulate` mode reads. The
 * agents still connect and authenticate through the gateway's real handshake; only the enrollment HTTP request (one
 * transaction and an audit event per device) is skipped. Enrolling 10,000 devices one request at a time took
 * minutes and ran through the api being measured.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { PrismaClient } from '@prisma/client';
import { saveCredentials, type AgentCredentials } from '../agent/credentials';
import { simulatedName } from '../agent/simulate';
import { randomToken, sha256 } from '../lib/secrets';

/** At most this many rows per INSERT. */
const BATCH = 1000;

/**
 * `count` simulated devices with their credentials, written straight to the database. `name(i)` names the i-th
 * (1-based). No `agent.enrolled` audit events are written.
 */
export async function enrollInBulk(
  prisma: PrismaClient,
  opts: { orgId: string; siteId: string; count: number; name: (i: number) => string; server: string; commandKey: string },
): Promise<AgentCredentials[]> {
  const creds: AgentCredentials[] = Array.from({ length: opts.count }, (_, i) => ({
    server: opts.server,
    deviceId: crypto.randomUUID(),
    secret: randomToken(32),
    orgId: opts.orgId,
    name: opts.name(i + 1),
    commandKey: opts.commandKey,
  }));
  for (let i = 0; i < creds.length; i += BATCH) {
    const batch = creds.slice(i, i + BATCH);
    await prisma.device.createMany({
      data: batch.map((c) => ({ id: c.deviceId, orgId: c.orgId, siteId: opts.siteId, name: c.name, hostname: c.name, os: 'Windows 11 Pro 23H2 (simulated)', executor: 'simulated' })),
    });
    await prisma.deviceCredential.createMany({ data: batch.map((c) => ({ deviceId: c.deviceId, hash: sha256(c.secret) })) });
  }
  return creds;
}

/**
 * Puts credentials where `--simulate <creds.length> --simulate-first <first> --org <org>` with DATA_DIR=dataDir
 * finds them (the i-th under simulatedName(org, first + i)).
 */
export async function writeSimulatedCredentials(dataDir: string, org: string, creds: AgentCredentials[], first = 1): Promise<void> {
  const dir = path.join(dataDir, 'simulated', org);
  // A few hundred files at a time: ten thousand at once would run past the process's open-file limit.
  for (let i = 0; i < creds.length; i += 200) {
    await Promise.all(creds.slice(i, i + 200).map((c, j) => saveCredentials(path.join(dir, `${simulatedName(org, first + i + j)}.json`), c)));
  }
}
