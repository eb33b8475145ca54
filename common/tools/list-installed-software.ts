/** list_installed_software: the packages installed on one device (the agent's `list_software` command). */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const listInstalledSoftware = defineTool({
  name: 'list_installed_software',
  description: 'List the software installed on a device, optionally filtered by name.',
  input: z.object({ device_id: DeviceId, name_filter: z.string().max(100).optional(), wait_for_device: WaitForDevice }).strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'list_software', params: (i) => (i.name_filter ? { filter: i.name_filter } : {}) },
});
