/** refresh_inventory: devices report their hardware and software again (the agent's `inventory` command). */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceIds } from './inputs';

export const refreshInventory = defineTool({
  name: 'refresh_inventory',
  description: 'Ask devices to report their hardware and software inventory again.',
  input: z.object({ device_ids: DeviceIds }).strict(),
  tier: Tier.T2,
  rateLimit: CHANGES,
  targets: (i) => i.device_ids,
  runs: { command: 'inventory' },
});
