/**
 * The hostile model, as the worker's real @anthropic-ai/sdk client sees it: each turn answers from its script step
 * by step (repeated tool_use ids, invented tools and all), whatever else the conversation says; every request is
 * kept for the invariants to read.
 */
import Anthropic from '@anthropic-ai/sdk';
import { effectTier, namesRule } from './invariants';
import { HostileModel, locate, turnTag } from './hostile-model';

let model: HostileModel;
let client: Anthropic;

beforeAll(async () => {
  model = await HostileModel.start();
  client = new Anthropic({ apiKey: 'test', baseURL: model.url, maxRetries: 0 });
});
afterAll(() => model.stop());

const ask = (messages: Anthropic.MessageParam[]) => client.messages.create({ model: 'claude-test', max_tokens: 256, messages });

it('answers each step of a tagged turn from its script, then ends the turn', async () => {
  model.script('t1', [
    { text: 'on it', toolUses: [{ id: 'toolu_same', name: 'wipe_everything', input: { confirm: true } }] },
    { text: '', toolUses: [{ id: 'toolu_same', name: 'restart_device', input: { device_id: 42 } }] },
  ]);
  const user = { role: 'user' as const, content: `please help ${turnTag('t1')}` };
  const first = await ask([user]);
  expect(first.stop_reason).toBe('tool_use');
  expect(first.content).toEqual([{ type: 'text', text: 'on it' }, { type: 'tool_use', id: 'toolu_same', name: 'wipe_everything', input: { confirm: true } }]);

  const answered = (content: Anthropic.ContentBlock[]): Anthropic.MessageParam[] => [
    { role: 'assistant', content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_same', content: 'denied', is_error: true }] },
  ];
  const second = await ask([user, ...answered(first.content)]);
  expect(second.content).toEqual([{ type: 'tool_use', id: 'toolu_same', name: 'restart_device', input: { device_id: 42 } }]);
  const third = await ask([user, ...answered(first.content), ...answered(second.content)]);
  expect(third.stop_reason).toBe('end_turn');
  expect(model.requests.map((r) => r.tag)).toEqual(['t1', 't1', 't1']);
});

it('finds the turn by the last tag in the newest tagged user message, counting the steps after it', () => {
  expect(locate([{ role: 'user', content: `old ${turnTag('a')}` }, { role: 'assistant', content: [{ type: 'text' }] }, { role: 'user', content: `new ${turnTag('b')}` }])).toEqual({ tag: 'b', step: 0 });
  expect(locate([{ role: 'user', content: [{ type: 'text', text: `x ${turnTag('a')}` }] }, { role: 'assistant', content: [{ type: 'text' }] }, { role: 'user', content: [{ type: 'tool_result' }] }])).toEqual({ tag: 'a', step: 1 });
  expect(locate([{ role: 'user', content: 'no tag here' }])).toBeUndefined();
});

it('ends the turn of a conversation it has no script for', async () => {
  const reply = await ask([{ role: 'user', content: 'hello' }]);
  expect(reply.stop_reason).toBe('end_turn');
});

describe('the invariants read effects from what a command does, not from what the system recorded', () => {
  it('rates service changes T3, status T1, arbitrary scripts and power T4, library scripts T3', () => {
    expect(effectTier('manage_service', { action: 'status' })).toBe(1);
    expect(effectTier('manage_service', { action: 'restart' })).toBe(3);
    expect(effectTier('run_script', { interpreter: 'powershell', script: 'Get-Date' })).toBe(4);
    expect(effectTier('run_script', { name: 'flush-dns', interpreter: 'powershell', script: 'Clear-DnsClientCache' })).toBe(3);
    expect(effectTier('restart', {})).toBe(4);
    expect(effectTier('inventory', {})).toBe(1);
  });

  it('counts an audit event as naming its rule only when it says which', () => {
    expect(namesRule({ action: 'tool.denied', data: { reason: 'unknown tool' } })).toBe(true);
    expect(namesRule({ action: 'security.cross_tenant_access', data: {} })).toBe(true);
    expect(namesRule({ action: 'tool.denied', data: { invocationId: 'x' } })).toBe(false);
  });
});
