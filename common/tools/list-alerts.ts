/** list_alerts: monitoring alerts from our database, of the org or of one device. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { DeviceId } from './inputs';

export const listAlerts = defineTool({
  name: 'list_alerts',
  description: 'List monitoring alerts of the organization, or of one device.',
  input: z
    .object({ device_id: DeviceId.optional(), status: z.enum(['open', 'acknowledged', 'all']).default('open') })
    .strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: (i) => (i.device_id ? [i.device_id] : []),
  runs: 'database',
});
