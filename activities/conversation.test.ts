import { buildConversation } from './conversation';

it('merges consecutive messages of the same role', () => {
  const out = buildConversation([
    { role: 'user', content: [{ type: 'text', text: 'a' }] },
    { role: 'user', content: [{ type: 'text', text: 'b' }] },
  ]);
  expect(out).toEqual([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
});

it('answers a tool_use left unanswered by a failed turn, so the next request is valid', () => {
  const out = buildConversation([
    { role: 'user', content: [{ type: 'text', text: 'read it' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_device_info', input: {} }] },
    { role: 'user', content: [{ type: 'text', text: 'and now?' }] },
  ]);
  expect(out).toHaveLength(3);
  expect(out[2]).toEqual({
    role: 'user',
    content: [
      { type: 'tool_result', tool_use_id: 'toolu_1', content: 'not run: the turn ended before this tool ran', is_error: true },
      { type: 'text', text: 'and now?' },
    ],
  });
});

it('leaves answered tool calls alone', () => {
  const rows = [
    { role: 'user', content: [{ type: 'text', text: 'x' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'list_devices', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: '{}' }] },
  ];
  expect(buildConversation(rows)[2]!.content).toEqual([{ type: 'tool_result', tool_use_id: 't', content: '{}' }]);
});
