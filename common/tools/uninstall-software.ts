/** uninstall_software: removes installed software from one device, always T4. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId } from './inputs';

export const uninstallSoftware = defineTool({
  name: 'uninstall_software',
  description: 'Remove installed software from a device. Always needs an approval with typed confirmation.',
  input: z.object({ device_id: DeviceId, name: z.string().min(1).max(200) }).strict(),
  tier: Tier.T4,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  runs: { command: 'uninstall_software', params: (i) => ({ name: i.name }) },
});
