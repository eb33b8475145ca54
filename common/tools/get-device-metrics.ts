/** get_device_metrics: current utilisation of one device (the agent's `get_metrics` command). */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId, WaitForDevice } from './inputs';

export const getDeviceMetrics = defineTool({
  name: 'get_device_metrics',
  description: 'Current CPU, memory and disk utilisation of a device, in percent.',
  input: z.object({ device_id: DeviceId, wait_for_device: WaitForDevice }).strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => [i.device_id],
  readsLive: { waits: (i) => i.wait_for_device === true },
  runs: { command: 'get_metrics' },
});
