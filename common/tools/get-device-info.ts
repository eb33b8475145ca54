/** get_device_info: a live read of one device (the agent's `system_info` command). */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const getDeviceInfo = defineTool({
  name: 'get_device_info',
  description: 'Read a device live: hostname, operating system, uptime, CPU, memory and disks.',
  input: z.object({ device_id: DeviceId, wait_for_device: WaitForDevice }).strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'system_info' },
});
