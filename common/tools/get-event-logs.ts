/** get_event_logs: recent event log (or journal) entries of one device. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const getEventLogs = defineTool({
  name: 'get_event_logs',
  description: 'Recent event log entries of a device (Windows event logs, or the journal/syslog on Linux).',
  input: z
    .object({
      device_id: DeviceId,
      wait_for_device: WaitForDevice,
      log: z.string().max(64).default('System').describe('System, Application, Security, or a journal unit on Linux'),
      level: z.enum(['error', 'warning', 'info']).optional(),
      limit: z.number().int().min(1).max(200).default(50),
      since_hours: z.number().int().min(1).max(720).default(24),
    })
    .strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'get_event_logs', params: (i) => ({ log: i.log, level: i.level, limit: i.limit, sinceHours: i.since_hours }) },
});
