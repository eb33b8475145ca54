/** install_updates: pending operating system updates on devices. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceIds } from './inputs';

export const installUpdates = defineTool({
  name: 'install_updates',
  description: 'Install pending operating system updates on devices. Needs a human approval.',
  input: z.object({ device_ids: DeviceIds, category: z.enum(['security', 'all']).default('security') }).strict(),
  tier: Tier.T3,
  rateLimit: CHANGES,
  targets: (i) => i.device_ids,
  runs: { command: 'install_updates', params: (i) => ({ category: i.category }) },
});
