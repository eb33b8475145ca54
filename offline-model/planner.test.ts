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
  expect(answerOf([{ role: 'assistant', content: step.content }])).toMatch(/I can list your devices/);
});

it('plans the same tool ids for the same conversation (deterministic)', () => {
  expect(plan([user('list devices')], TOOLS)).toEqual(plan([user('list devices')], TOOLS));
});
