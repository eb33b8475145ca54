/** add_device_note: a note on a device's record in our database, for the next technician. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId } from './inputs';

export const addDeviceNote = defineTool({
  name: 'add_device_note',
  description: "Add a note to a device's record, for the next technician.",
  input: z.object({ device_id: DeviceId, text: z.string().min(1).max(2000) }).strict(),
  tier: Tier.T2,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  runs: 'database',
});
