import { CommandParams } from './protocol';
import { anthropicToolDefinitions, isToolName, TOOL_CATALOG, TOOL_NAMES, ToolInput } from './tools';

const DEVICE = '22222222-2222-4222-8222-222222222222';

it('generates one Anthropic tool definition per catalog entry, with an object input schema', () => {
  const defs = anthropicToolDefinitions();
  expect(defs.map((d) => d.name)).toEqual(TOOL_NAMES);
  for (const def of defs) {
    expect(def.description.length).toBeGreaterThan(20);
    expect(def.input_schema).toMatchObject({ type: 'object' });
    expect(def.input_schema).not.toHaveProperty('$schema');
  }
  expect(defs.find((d) => d.name === 'get_device_info')?.input_schema).toMatchObject({ required: ['device_id'] });
});

it('maps every device tool to an agent command whose parameters the agent accepts', () => {
  for (const name of TOOL_NAMES) {
    const input = ToolInput[name].parse(name === 'list_devices' ? {} : { device_id: DEVICE });
    const execution = TOOL_CATALOG[name].execution(input as never);
    if (execution.type === 'device') {
      expect(execution.deviceId).toBe(DEVICE);
      expect(CommandParams[execution.kind].safeParse(execution.params).success).toBe(true);
      expect(TOOL_CATALOG[name].targets(input as never)).toEqual([DEVICE]);
    }
  }
});

it('rejects a device id that is not a UUID and unknown fields', () => {
  expect(ToolInput.get_device_info.safeParse({ device_id: "1' OR 1=1" }).success).toBe(false);
  expect(ToolInput.get_device_info.safeParse({ device_id: DEVICE, org_id: 'x' }).success).toBe(false);
});

it('does not treat inherited object keys as tool names', () => {
  expect(isToolName('constructor')).toBe(false);
  expect(isToolName('__proto__')).toBe(false);
  expect(isToolName('list_devices')).toBe(true);
});
