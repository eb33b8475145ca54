/** kill_process: terminates a process by pid; naming a critical service's process makes it T4. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceId } from './inputs';

export const killProcess = defineTool({
  name: 'kill_process',
  description: 'Terminate a process on a device by pid (optionally checking its name first). Needs a human approval.',
  input: z
    .object({ device_id: DeviceId, pid: z.number().int().min(1), name: z.string().max(256).optional().describe('Expected process name, checked before killing') })
    .strict(),
  tier: Tier.T3,
  rateLimit: CHANGES,
  targets: (i) => [i.device_id],
  // Killing a service's process is stopping the service; the agent refuses to kill a critical process the call did not name.
  touches: { kind: 'process', name: (i) => i.name },
  runs: { command: 'kill_process', params: (i) => ({ pid: i.pid, ...(i.name ? { name: i.name } : {}) }) },
});
