/** list_devices: the org's devices from our database, the model's way to find device ids. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';

export const listDevices = defineTool({
  name: 'list_devices',
  description: "List the organization's devices: id, name, hostname, OS, site, group, and whether each is online now. Use it to find device ids.",
  input: z
    .object({
      site: z.string().max(100).optional().describe('Only devices of the site with this name'),
      online: z.boolean().optional().describe('Only devices that are (or are not) connected now'),
    })
    .strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: () => [],
  runs: 'database',
});
