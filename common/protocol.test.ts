import { AgentAuth, CommandDispatch, CommandResult, commandRunSeconds, MAX_OUTPUT_DEPTH, PROTOCOL_VERSION, unstorableJson } from './protocol';

const now = new Date().toISOString();
const result = (over: Record<string, unknown>) => ({ v: PROTOCOL_VERSION, commandId: 'c1', ok: true, startedAt: now, finishedAt: now, ...over });
const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { child: nested(depth - 1) });

describe('command results', () => {
  it('takes the outputs devices really send: any language, emoji, nesting up to the limit', () => {
    for (const output of [{ hostname: 'pc-01', note: 'Grüße 日本語 🖨️ \u202e' }, [1, null, true, 'x'], nested(MAX_OUTPUT_DEPTH), 'plain', 0, null]) {
      expect(CommandResult.safeParse(result({ output })).success).toBe(true);
    }
    expect(CommandResult.safeParse(result({})).success).toBe(true);
  });

  it('refuses outputs PostgreSQL cannot store, binary data, and nesting past the limit, saying why', () => {
    const cases: [unknown, RegExp][] = [
      ['a\u0000b', /NUL character or an unpaired surrogate/],
      [{ deep: ['\ud800'] }, /NUL character or an unpaired surrogate/],
      ['\udc00\ud800', /NUL character or an unpaired surrogate/],
      [{ 'key\u0000': 1 }, /a key holds/],
      [nested(MAX_OUTPUT_DEPTH + 1), /nested deeper than 32 levels/],
      [Buffer.from('x'), /binary data/],
      [new Map(), /non-JSON object/],
      [Number.NaN, /non-finite number/],
    ];
    for (const [output, why] of cases) {
      const parsed = CommandResult.safeParse(result({ output }));
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(why);
    }
  });

  it('checks nesting without recursion, however deep', () => {
    const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    expect(unstorableJson(deep)).toBe(`nested deeper than ${MAX_OUTPUT_DEPTH} levels`);
  });

  it('takes command ids as the workflows make them and nothing else', () => {
    const id = '0b4a8d54-7923-4993-a613-ec1f2bcc1b26:toolu_01AbC-x_9:5bbf2bb5-8133-48ec-ae47-588bd68e6e08';
    for (const ok of [id, `${id}:0b4a8d54-7923-4993-a613-ec1f2bcc1b26`, 'c1']) expect(CommandResult.safeParse(result({ commandId: ok })).success).toBe(true);
    for (const bad of ['', 'a b', 'a::b', ':a', 'a/b', 'ä', 'a\u0000', 'x'.repeat(201)]) {
      expect({ bad, ok: CommandResult.safeParse(result({ commandId: bad })).success }).toEqual({ bad, ok: false });
      expect(CommandDispatch.shape.commandId.safeParse(bad).success).toBe(false);
    }
  });
});

describe('agent handshakes', () => {
  const auth = { v: PROTOCOL_VERSION, deviceId: '5bbf2bb5-8133-48ec-ae47-588bd68e6e08', secret: 'N1f3-_'.repeat(8), agentVersion: '0.1.0' };

  it('takes a credential as enrollment issues it, and refuses anything else in its fields', () => {
    expect(AgentAuth.safeParse(auth).success).toBe(true);
    for (const bad of [{ secret: 'short' }, { secret: `${auth.secret}\u0000` }, { secret: `${auth.secret} ` }, { agentVersion: '' }, { agentVersion: '1.0\n' }, { deviceId: 'not-a-uuid' }, { extra: 1 }]) {
      expect(AgentAuth.safeParse({ ...auth, ...bad }).success).toBe(false);
    }
  });
});

it('gives the agent a dispatch timeout no shorter than a command’s own kill timer', () => {
  expect(commandRunSeconds('run_script', { interpreter: 'bash', script: 'x', timeoutSeconds: 300 })).toBe(300);
  expect(commandRunSeconds('run_script', { interpreter: 'bash', script: 'x' })).toBe(60);
  expect(commandRunSeconds('install_updates', { category: 'security' })).toBe(1800);
  expect(commandRunSeconds('uninstall_software', { name: 'vim' })).toBe(600);
  expect(commandRunSeconds('system_info', {})).toBe(0);
});

describe('trace context in command frames', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const dispatch = (over: Record<string, unknown>) => ({
    v: PROTOCOL_VERSION,
    commandId: 'c1',
    kind: 'system_info',
    params: {},
    expiresAt: now,
    timeoutSeconds: 60,
    approvalDigest: null,
    signature: 'sig',
    ...over,
  });

  it('is optional on a dispatch and a result, and taken when it is a W3C traceparent', () => {
    expect(CommandDispatch.safeParse(dispatch({})).success).toBe(true);
    expect(CommandDispatch.safeParse(dispatch({ trace: { traceparent } })).success).toBe(true);
    expect(CommandResult.safeParse(result({ trace: { traceparent } })).success).toBe(true);
  });

  it('refuses anything else in it: another format, all-zero ids, extra fields', () => {
    for (const trace of [
      { traceparent: 'not-a-trace' },
      { traceparent: `${traceparent}-extra` },
      { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' },
      { traceparent: traceparent.toUpperCase() },
      { traceparent, tracestate: 'x=1' },
      'traceparent',
    ]) {
      expect(CommandDispatch.safeParse(dispatch({ trace })).success).toBe(false);
      expect(CommandResult.safeParse(result({ trace })).success).toBe(false);
    }
  });
});
