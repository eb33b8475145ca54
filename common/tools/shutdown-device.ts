/** shutdown_device: shuts one device down, always T4. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId, Reason } from './inputs';

export const shutdownDevice = defineTool({
  name: 'shutdown_device',
  description: 'Shut a device down. Always needs an approval with typed confirmation.',
  input: z.object({ device_id: DeviceId, reason: Reason }).strict(),
  tier: Tier.T4,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  runs: { command: 'shutdown', params: (i) => (i.reason ? { reason: i.reason } : {}) },
});
