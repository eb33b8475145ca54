/** get_command_result: an earlier command's stored result, or a page of its full output, from our database. */
import { z } from 'zod';
import { MAX_FULL_OUTPUT_BYTES, OutputStream } from '../protocol';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';

export const getCommandResult = defineTool({
  name: 'get_command_result',
  description:
    "The stored result of an earlier device command (tool output shown to you may be truncated). With stream ('stdout' or 'stderr'), a page of that stream's full output as the device produced it instead, with the offset of the next page.",
  input: z
    .object({
      command_id: z.string().min(1).max(200).describe('A command id from an earlier tool result'),
      stream: OutputStream.optional().describe("Page through this stream's full output instead of returning the stored result"),
      offset: z.number().int().min(0).max(MAX_FULL_OUTPUT_BYTES).optional().describe('Byte offset in the stream to read from (default 0; each answer gives the next one)'),
    })
    .strict()
    .refine((i) => i.offset === undefined || i.stream !== undefined, { message: 'offset needs a stream', path: ['offset'] }),
  tier: Tier.T1,
  rateLimit: READS,
  targets: () => [],
  // A stored result belongs to its device's site: reading it reaches that site, not the whole org.
  readsCommand: (i) => i.command_id,
  runs: 'database',
});
