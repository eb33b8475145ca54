/** The model's tool list: Anthropic `tools` definitions generated from the catalog. */
import { z } from 'zod';
import { TOOLS } from './catalog';

type ModelToolDefinition = { name: string; description: string; input_schema: Record<string, unknown> };
let definitions: ModelToolDefinition[] | undefined;

/** Made once: the catalog does not change at run time. */
export function anthropicToolDefinitions(): ModelToolDefinition[] {
  definitions ??= TOOLS.map((tool) => {
    const schema = z.toJSONSchema(tool.input, { io: 'input' }) as Record<string, unknown>;
    delete schema.$schema;
    return { name: tool.name, description: tool.description, input_schema: schema };
  });
  return definitions;
}
