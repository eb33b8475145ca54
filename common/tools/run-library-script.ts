/** run_library_script: a vetted script of the org's library on devices; its body is looked up (and digested) at authorization. */
import { z } from 'zod';
import { Tier } from '../tier';
import { CHANGES, defineTool } from './define-tool';
import { DeviceIds } from './inputs';

export const runLibraryScript = defineTool({
  name: 'run_library_script',
  description: "Run a vetted script from the organization's script library on devices. Needs a human approval.",
  input: z
    .object({
      device_ids: DeviceIds,
      script: z.string().min(1).max(100).describe("Name of a script in the organization's script library"),
      parameters: z.record(z.string().max(64), z.string().max(1000)).default({}),
    })
    .strict(),
  tier: Tier.T3,
  rateLimit: CHANGES,
  targets: (i) => i.device_ids,
  libraryScript: (i) => ({ name: i.script, parameters: i.parameters }),
  runs: { command: 'run_script', params: (i) => ({ name: i.script, parameters: i.parameters }) },
});
