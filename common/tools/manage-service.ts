/** manage_service: a service's status (a read), or starting, stopping or restarting it (a significant change). */
import { z } from 'zod';
import { ServiceName } from '../protocol';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId } from './inputs';

export const manageService = defineTool({
  name: 'manage_service',
  description: 'Check (status), start, stop or restart a service on a device. Changing a service needs a human approval.',
  input: z
    .object({ device_id: DeviceId, service: ServiceName.describe('Service name, e.g. Spooler'), action: z.enum(['status', 'start', 'stop', 'restart']) })
    .strict(),
  // Reading status is a read; changing state is significant.
  tier: { status: Tier.T1, start: Tier.T3, stop: Tier.T3, restart: Tier.T3 },
  action: (i) => i.action,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  touches: { kind: 'service', name: (i) => i.service },
  runs: { command: 'manage_service', params: (i) => ({ service: i.service, action: i.action }) },
});
