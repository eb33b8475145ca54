/** list_services: the services of one device and their status. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const listServices = defineTool({
  name: 'list_services',
  description: 'List the services of a device with their status, optionally filtered by name.',
  input: z.object({ device_id: DeviceId, name_filter: z.string().max(100).optional(), wait_for_device: WaitForDevice }).strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'list_services', params: (i) => (i.name_filter ? { filter: i.name_filter } : {}) },
});
