/** execute_script: arbitrary bash or PowerShell on one device, always T4. */
import { z } from 'zod';
import { Interpreter, MAX_SCRIPT_BYTES } from '../protocol';
import { Tier } from '../tier';
import { defineTool } from './define-tool';
import { DeviceId } from './inputs';

export const executeScript = defineTool({
  name: 'execute_script',
  description: 'Run an arbitrary bash or PowerShell script on one device. Always needs an approval with typed confirmation.',
  input: z
    .object({
      device_id: DeviceId,
      interpreter: Interpreter,
      script: z.string().min(1).max(MAX_SCRIPT_BYTES),
      timeout_seconds: z.number().int().min(1).max(600).default(60),
    })
    .strict(),
  tier: Tier.T4,
  rateLimit: { max: 5, windowSeconds: 600 },
  targets: (i) => [i.device_id],
  runs: { command: 'run_script', params: (i) => ({ interpreter: i.interpreter, script: i.script, timeoutSeconds: i.timeout_seconds }) },
});
