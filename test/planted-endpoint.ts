/**
 * A simulated endpoint of acme run in the test's own process, so the test can plant an event-log message on it the
 * way malware or a hostile user on the machine would; connected through the real agent code to the test system.
 */
import path from 'node:path';
import { connectAgent, type AgentConnection } from '../agent/connection';
import { enroll } from '../agent/enroll';
import { createSimulatedExecutor, SimulatedMachine } from '../agent/executors/simulated';
import { createLogger } from '../lib/logger';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { waitUntil, type TestSystem } from './harness';

export interface PlantedLog {
  /** The device's name (unique per test system). */
  name: string;
  source: string;
  eventId: number;
  message: string;
}

/** Enrolls and connects the endpoint, its event log carrying `log` as an error; its journal goes in `dir`. */
export async function endpointWithLogMessage(sys: TestSystem, dir: string, log: PlantedLog): Promise<{ deviceId: string; agent: AgentConnection }> {
  const acme = sys.seed.orgs.acme;
  const key = await createEnrollmentKey(sys.prisma, { orgId: acme.id, siteId: acme.siteIds[0]! });
  const credentials = await enroll({ server: sys.url, key, name: log.name, executor: 'simulated' });
  const machine = new SimulatedMachine(credentials.name);
  machine.record('error', log.source, log.eventId, log.message);
  const agent = connectAgent({
    credentials,
    journalFile: path.join(dir, `${credentials.deviceId}.journal.jsonl`),
    logger: createLogger({ LOG_LEVEL: 'silent' }, 'agent'),
    executor: createSimulatedExecutor(machine),
  });
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: credentials.deviceId } })).online, 'the planted endpoint to connect');
  return { deviceId: credentials.deviceId, agent };
}
