/** list_processes: the busiest processes of one device. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const listProcesses = defineTool({
  name: 'list_processes',
  description: 'List the running processes of a device, busiest first (by CPU or memory).',
  input: z
    .object({
      device_id: DeviceId,
      wait_for_device: WaitForDevice,
      sort_by: z.enum(['cpu', 'memory']).default('cpu'),
      limit: z.number().int().min(1).max(200).default(25),
    })
    .strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'list_processes', params: (i) => ({ sortBy: i.sort_by, limit: i.limit }) },
});
