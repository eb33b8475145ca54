/** acknowledge_alert: marks an open alert acknowledged in our database; the alert's device is the call's target. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';

export const acknowledgeAlert = defineTool({
  name: 'acknowledge_alert',
  description: 'Acknowledge an open alert, with an optional note.',
  input: z.object({ alert_id: z.uuid(), note: z.string().max(500).optional() }).strict(),
  tier: Tier.T2,
  rateLimit: CHANGES,
  targets: () => [],
  // An alert belongs to a device: its device is the call's target, so the site scope (and its audit) applies.
  indirectTargets: (i) => ({ alert: i.alert_id }),
  runs: 'database',
});
