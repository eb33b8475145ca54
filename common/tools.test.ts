/**
 * The catalog drift test: the Anthropic tool definitions, the agent command mapping and the activity handlers are
 * all derived from the catalog; this fails if any of them drift apart (the documented tier table is checked by
 * scripts/generate-docs.test.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DATABASE_HANDLERS } from '../activities/tools/handlers';
import { createLinuxExecutor } from '../agent/executors/linux';
import { createSimulatedExecutor, SimulatedMachine } from '../agent/executors/simulated';
import { DEFAULT_POLICY } from './default-policy';
import { COMMAND_KINDS, CommandParams } from './protocol';
import { anthropicToolDefinitions, COMMAND_KIND_TOOLS, commandNeedsApproval, defaultTier, isToolName, TOOL_CATALOG, TOOL_NAMES, ToolInput, type ToolName } from './tools';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';

/** A valid input for every tool: a tool added without one here is a compile error. */
const SAMPLES: Record<ToolName, unknown> = {
  list_devices: {},
  get_device_info: { device_id: A },
  get_device_metrics: { device_id: A },
  list_services: { device_id: A },
  list_processes: { device_id: A },
  get_event_logs: { device_id: A },
  list_installed_software: { device_id: A },
  list_alerts: {},
  get_command_result: { command_id: 'x:toolu_1:' + A },
  list_discovered_hosts: { cidr: '192.168.1.0/24' },
  manage_service: { device_id: A, service: 'Spooler', action: 'restart' },
  acknowledge_alert: { alert_id: B },
  add_device_note: { device_id: A, text: 'replaced the toner' },
  refresh_inventory: { device_ids: [A, B] },
  network_discovery: { device_id: A, cidr: '192.168.1.0/24' },
  kill_process: { device_id: A, pid: 4242 },
  run_library_script: { device_ids: [A], script: 'flush-dns' },
  install_updates: { device_ids: [A, B] },
  execute_script: { device_id: A, interpreter: 'bash', script: 'uptime' },
  restart_device: { device_id: A },
  shutdown_device: { device_id: A },
  uninstall_software: { device_id: A, name: 'Zoom Workplace' },
  run_remediation: { target: { device_ids: [A, B] }, action: { type: 'service', service: 'Spooler', action: 'restart' } },
};

it('has exactly the tools of the default policy', () => {
  expect([...TOOL_NAMES].sort()).toEqual(Object.keys(DEFAULT_POLICY).sort());
});

it('has one definition per name, each in a file named after its tool', () => {
  expect(new Set(TOOL_NAMES).size).toBe(TOOL_NAMES.length);
  const files = readdirSync(path.join(__dirname, 'tools')).filter((f) => f.endsWith('.ts'));
  for (const name of TOOL_NAMES) expect(files).toContain(`${name.replace(/_/g, '-')}.ts`);
});

it('generates one Anthropic tool definition per catalog entry, with an object input schema', () => {
  const defs = anthropicToolDefinitions();
  expect(defs.map((d) => d.name)).toEqual(TOOL_NAMES);
  for (const def of defs) {
    expect(def.description.length).toBeGreaterThan(20);
    expect(def.input_schema).toMatchObject({ type: 'object' });
    expect(def.input_schema).not.toHaveProperty('$schema');
  }
  expect(defs.find((d) => d.name === 'manage_service')?.input_schema).toMatchObject({ required: expect.arrayContaining(['device_id', 'service', 'action']) });
});

it.each(TOOL_NAMES)('%s maps to what its handler and the agents expect', (name) => {
  const input = ToolInput[name].parse(SAMPLES[name]);
  const spec = TOOL_CATALOG[name];
  const execution = spec.execution(input as never);
  // A database tool has a handler and a device tool has none; the command a device tool sends is its definition's.
  expect(Object.prototype.hasOwnProperty.call(DATABASE_HANDLERS, name)).toBe(execution.type === 'database');
  expect(spec.executes).toBe(execution.type);
  if (execution.type === 'remediation') {
    expect(execution.devices).toEqual([A, B]);
    expect(CommandParams[execution.kind].safeParse(execution.params).success).toBe(true);
  }
  if (execution.type === 'devices') {
    expect(execution.commands.map((c) => c.deviceId).sort()).toEqual([...spec.targets(input as never)].sort());
    for (const cmd of execution.commands) {
      expect(COMMAND_KIND_TOOLS[cmd.kind]).toContain(name);
      // Library scripts get their interpreter and body from the library at authorization.
      const params = spec.libraryScript?.(input as never) ? { ...cmd.params, interpreter: 'bash', script: 'true' } : cmd.params;
      expect(CommandParams[cmd.kind].safeParse(params).success).toBe(true);
    }
  }
  expect(defaultTier(name, spec.action?.(input as never))).toBeDefined();
});

it('gives both executors a handler for every command kind', () => {
  const linux = createLinuxExecutor();
  const simulated = createSimulatedExecutor(new SimulatedMachine('ACME-PC-01'));
  for (const kind of COMMAND_KINDS) {
    expect(typeof linux[kind]).toBe('function');
    expect(typeof simulated[kind]).toBe('function');
  }
});

it('rejects a device id that is not a UUID and unknown fields', () => {
  expect(ToolInput.get_device_info.safeParse({ device_id: "1' OR 1=1" }).success).toBe(false);
  expect(ToolInput.get_device_info.safeParse({ device_id: A, org_id: 'x' }).success).toBe(false);
});

it('does not treat inherited object keys as tool names', () => {
  expect(isToolName('constructor')).toBe(false);
  expect(isToolName('__proto__')).toBe(false);
  expect(isToolName('list_devices')).toBe(true);
});

it('knows which tools send each agent command kind, as their executions say', () => {
  for (const name of TOOL_NAMES) {
    const execution = TOOL_CATALOG[name].execution(ToolInput[name].parse(SAMPLES[name]) as never);
    const kinds = execution.type === 'devices' ? execution.commands.map((c) => c.kind) : execution.type === 'remediation' ? [execution.kind] : [];
    for (const kind of kinds) expect(execution.type === 'remediation' || COMMAND_KIND_TOOLS[kind].includes(name)).toBe(true);
  }
  for (const kind of COMMAND_KINDS) expect(COMMAND_KIND_TOOLS[kind].length).toBeGreaterThan(0);
});

it('tells the agent which command kinds run only with an approval digest', () => {
  expect(commandNeedsApproval('system_info', {})).toBe(false);
  expect(commandNeedsApproval('inventory', {})).toBe(false);
  expect(commandNeedsApproval('manage_service', { service: 'Spooler', action: 'status' })).toBe(false);
  expect(commandNeedsApproval('manage_service', { service: 'Spooler', action: 'restart' })).toBe(true);
  expect(commandNeedsApproval('manage_service', { service: 'Spooler', action: 'delete' })).toBe(true);
  for (const kind of ['kill_process', 'run_script', 'install_updates', 'restart', 'shutdown', 'uninstall_software'] as const) expect(commandNeedsApproval(kind, {})).toBe(true);
});

it('keeps every branch on a tool name inside that tool\'s definition (server, worker and agent code)', () => {
  const root = path.join(__dirname, '..');
  const branch = new RegExp(`(===|!==|case) '(${TOOL_NAMES.join('|')})'`);
  const sources = (dir: string): string[] =>
    readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : [],
    );
  const offenders = ['activities', 'agent', 'api', 'cage', 'common', 'lib', 'worker', 'workflows']
    .flatMap(sources)
    .filter((file) => !file.startsWith(path.join('common', 'tools') + path.sep))
    .filter((file) => branch.test(readFileSync(path.join(root, file), 'utf8')));
  expect(offenders).toEqual([]);
});
