import { TOOL_NAMES, ToolInput, type ToolName } from '../common/tools';
import { OFFLINE_NOTICE, plan, type Message } from './planner';

const TOOLS = ['list_devices', 'get_device_info', 'list_processes'];
const devices = {
  devices: [
    { id: '11111111-1111-4111-8111-111111111111', name: 'ACME-PC-01', hostname: 'pc01', online: false },
    { id: '22222222-2222-4222-8222-222222222222', name: 'ACME-HQ-DEMO', hostname: 'vm', online: true },
  ],
};

const user = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text }] });

function run(conversation: Message[], respond: (name: string, input: Record<string, unknown>) => unknown): Message[] {
  const messages = [...conversation];
  for (let i = 0; i < 5; i++) {
    const step = plan(messages, TOOLS);
    messages.push({ role: 'assistant', content: step.content });
    if (step.stopReason === 'end_turn') return messages;
    const results = step.content.flatMap((b) =>
      b.type === 'tool_use' ? [{ type: 'tool_result' as const, tool_use_id: b.id, content: JSON.stringify(respond(b.name, b.input)) }] : [],
    );
    messages.push({ role: 'user', content: results });
  }
  throw new Error('planner did not finish');
}

const answerOf = (messages: Message[]) => {
  const last = messages[messages.length - 1]!;
  return (last.content as { type: string; text?: string }[]).map((b) => b.text ?? '').join('');
};

it('finds the device, reads it, and answers with its hostname and uptime', () => {
  const calls: string[] = [];
  const messages = run([user('what is the hostname and uptime of the demo device?')], (name, input) => {
    calls.push(`${name}(${String(input.device_id ?? '')})`);
    if (name === 'list_devices') return devices;
    return { hostname: 'vm', os: { platform: 'linux', release: '6.1' }, uptimeSeconds: 90_061, cpu: { model: 'x', cores: 2 }, memory: { totalBytes: 1, availableBytes: 1 }, disks: [] };
  });
  expect(calls).toEqual(['list_devices()', 'get_device_info(22222222-2222-4222-8222-222222222222)']);
  const answer = answerOf(messages);
  expect(answer).toContain(OFFLINE_NOTICE);
  expect(answer).toContain('hostname vm');
  expect(answer).toContain('1 days, 1 hours, 1 minutes');
});

it('targets the device named in the request, even when it is offline', () => {
  const calls: string[] = [];
  run([user('list the processes on ACME-PC-01')], (name, input) => {
    calls.push(`${name}(${String(input.device_id ?? '')})`);
    return name === 'list_devices' ? devices : { total: 1, processes: [{ pid: 1, name: 'init', cpuPercent: 0, memoryBytes: 0, command: 'init' }] };
  });
  expect(calls[1]).toBe('list_processes(11111111-1111-4111-8111-111111111111)');
});

it('says what it can do when the request is not about devices', () => {
  const step = plan([user('tell me a joke')], TOOLS);
  expect(step.stopReason).toBe('end_turn');
  expect(answerOf([{ role: 'assistant', content: step.content }])).toMatch(/I can list and read your devices/);
});

it('answers a question about what was done from the conversation, and never plans a new change for it', () => {
  const restart = { type: 'tool_use' as const, id: 'toolu_1', name: 'manage_service', input: { device_id: devices.devices[0]!.id, service: 'Spooler', action: 'restart' } };
  const done = { type: 'tool_result' as const, tool_use_id: 'toolu_1', content: JSON.stringify({ devices: [{ deviceId: devices.devices[0]!.id, ok: true, service: 'Spooler', state: 'running' }] }) };
  const earlier: Message[] = [user('restart the Spooler service on ACME-PC-01'), { role: 'assistant', content: [restart] }, { role: 'user', content: [done] }, { role: 'assistant', content: [{ type: 'text', text: 'Done.' }] }];
  const step = plan([...earlier, user('did the restart work?')], ['list_devices', 'manage_service', 'restart_device']);
  expect(step.stopReason).toBe('end_turn');
  expect(answerOf([{ role: 'assistant', content: step.content }])).toMatch(/The last step of this session: manage_service/);
  const first = plan([user('has the device been restarted?')], ['list_devices', 'restart_device']);
  expect(first.stopReason).toBe('end_turn');
  expect(answerOf([{ role: 'assistant', content: first.content }])).toMatch(/Nothing has run in this session yet/);
  // Asked, not questioned: still a change, through the cage as ever.
  expect(plan([user('restart ACME-PC-01')], ['list_devices', 'restart_device']).stopReason).toBe('tool_use');
});

it('plans the same tool ids for the same conversation (deterministic)', () => {
  expect(plan([user('list devices')], TOOLS)).toEqual(plan([user('list devices')], TOOLS));
});

describe('plans every kind of request', () => {
  const list = (messages: Message[]) => {
    const step = plan(messages, ['list_devices', 'manage_service', 'restart_device', 'execute_script', 'install_updates', 'network_discovery', 'kill_process', 'list_alerts']);
    return step;
  };
  const afterListing = (text: string) => {
    const first = list([user(text)]);
    const id = (first.content.find((b) => b.type === 'tool_use') as { id: string }).id;
    return list([user(text), { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: JSON.stringify(devices) }] }]);
  };
  const toolUse = (p: ReturnType<typeof plan>) => p.content.find((b) => b.type === 'tool_use') as { name: string; input: Record<string, unknown> };

  it('restarts a named service on a named device', () => {
    expect(toolUse(afterListing('restart the Spooler service on ACME-PC-01'))).toMatchObject({
      name: 'manage_service',
      input: { device_id: devices.devices[0]!.id, service: 'Spooler', action: 'restart' },
    });
  });

  it('reboots a device', () => {
    expect(toolUse(afterListing('reboot ACME-PC-01'))).toMatchObject({ name: 'restart_device', input: { device_id: devices.devices[0]!.id } });
  });

  it('runs a script given in a code block', () => {
    expect(toolUse(afterListing('run this script on ACME-HQ-DEMO:\n```bash\necho hello\n```'))).toMatchObject({
      name: 'execute_script',
      input: { device_id: devices.devices[1]!.id, interpreter: 'bash', script: 'echo hello' },
    });
  });

  it('patches every online device when asked for all', () => {
    expect(toolUse(afterListing('install updates on all devices'))).toMatchObject({ name: 'install_updates', input: { device_ids: [devices.devices[1]!.id] } });
  });

  it('scans a range from the demo device', () => {
    expect(toolUse(afterListing('scan 192.168.10.0/24 for open ports'))).toMatchObject({ name: 'network_discovery', input: { cidr: '192.168.10.0/24' } });
  });

  it('calls exactly the tool named with /tool, even one that does not exist', () => {
    expect(toolUse(list([user('/tool wipe_everything {"really": true}')]))).toEqual(expect.objectContaining({ name: 'wipe_everything', input: { really: true } }));
  });
});

it('turns a fleet-wide service request into one remediation', () => {
  const tools = ['list_devices', 'run_remediation', 'manage_service'];
  const text = 'restart the Spooler service on every device in site HQ';
  const first = plan([user(text)], tools);
  const id = (first.content.find((b) => b.type === 'tool_use') as { id: string }).id;
  const second = plan([user(text), { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: JSON.stringify(devices) }] }], tools);
  expect(second.content.find((b) => b.type === 'tool_use')).toMatchObject({
    name: 'run_remediation',
    input: { target: { site: 'HQ' }, action: { type: 'service', service: 'Spooler', action: 'restart' } },
  });
});

describe('the offline model plans every catalog tool from a plain request', () => {
  const SENTENCES: Record<ToolName, string> = {
    list_devices: 'list the devices',
    get_device_info: 'what is the uptime of ACME-PC-01',
    get_device_metrics: 'show the cpu usage of ACME-PC-01',
    list_services: 'list the services on ACME-PC-01',
    list_processes: 'list the processes on ACME-PC-01',
    get_event_logs: 'show the event logs of ACME-PC-01',
    list_installed_software: 'what software is installed on ACME-PC-01',
    list_alerts: 'show open alerts',
    get_command_result: 'show the command result of s1:toolu_9:dev',
    list_discovered_hosts: 'which hosts were discovered in 192.168.1.0/24',
    manage_service: 'restart the Spooler service on ACME-PC-01',
    acknowledge_alert: 'acknowledge alert 33333333-3333-4333-8333-333333333333',
    add_device_note: 'add a note to ACME-PC-01: replaced the toner',
    refresh_inventory: 'refresh the inventory of ACME-PC-01',
    network_discovery: 'scan 192.168.1.0/24 from ACME-PC-01',
    kill_process: 'kill process 4242 on ACME-PC-01',
    run_library_script: 'run library script flush-dns on ACME-PC-01',
    install_updates: 'install updates on ACME-PC-01',
    execute_script: 'run this script on ACME-PC-01:\n```\nuptime\n```',
    restart_device: 'reboot ACME-PC-01',
    shutdown_device: 'shut down ACME-PC-01',
    uninstall_software: 'uninstall Zoom Workplace from ACME-PC-01',
    run_remediation: 'restart the Spooler service on every device in site HQ',
  };

  it.each(Object.entries(SENTENCES))('%s ← "%s"', (tool, text) => {
    const messages: Message[] = [user(text)];
    let step = plan(messages, TOOL_NAMES);
    let use = step.content.find((b) => b.type === 'tool_use') as { id: string; name: string; input: Record<string, unknown> } | undefined;
    if (use?.name === 'list_devices' && tool !== 'list_devices') {
      messages.push({ role: 'assistant', content: step.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: JSON.stringify(devices) }] });
      step = plan(messages, TOOL_NAMES);
      use = step.content.find((b) => b.type === 'tool_use') as typeof use;
    }
    expect(use?.name).toBe(tool);
    expect(ToolInput[tool as ToolName].safeParse(use!.input).success).toBe(true);
  });
});
