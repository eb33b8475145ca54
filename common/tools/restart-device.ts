/** restart_device: reboots one device, always T4. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId, Reason } from './inputs';

export const restartDevice = defineTool({
  name: 'restart_device',
  description: 'Reboot a device. Always needs an approval with typed confirmation.',
  input: z.object({ device_id: DeviceId, reason: Reason }).strict(),
  tier: Tier.T4,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  runs: { command: 'restart', params: (i) => (i.reason ? { reason: i.reason } : {}) },
});
