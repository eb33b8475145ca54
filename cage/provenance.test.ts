import { describeProvenance, taintedArguments, type SessionText } from './provenance';

const skipKeys = new Set(['device_id', 'reason']);
const taint = (input: unknown, texts: SessionText[], trusted: string[] = []) => taintedArguments(input, texts, { skipKeys, trustedValues: new Set(trusted) });

const LOG: SessionText = { at: 2, kind: 'output', tool: 'get_event_logs', text: '{"entries":[{"message":"The UpdHelperSvc service terminated unexpectedly.\\nSee C:\\\\ProgramData\\\\upd\\\\run.cmd"}]}' };

describe('provenance taint', () => {
  it('marks an argument whose value the model read in a tool output before anyone typed it', () => {
    expect(taint({ device_id: 'd1', service: 'UpdHelperSvc', action: 'status' }, [{ at: 1, kind: 'user', text: 'why did backups fail on ACME-FS-01?' }, LOG])).toEqual([{ path: 'service', value: 'UpdHelperSvc', tool: 'get_event_logs' }]);
  });

  it('finds values nested in the input, case aside, and as JSON escapes them (Windows paths)', () => {
    const found = taint({ script: { parameters: { path: 'c:\\programdata\\upd\\run.cmd' } } }, [LOG]);
    expect(found).toEqual([{ path: 'script.parameters.path', value: 'c:\\programdata\\upd\\run.cmd', tool: 'get_event_logs' }]);
    expect(describeProvenance(found)).toBe('script.parameters.path "c:\\programdata\\upd\\run.cmd" came from the output of get_event_logs');
  });

  it('leaves alone what a user typed first, short values, skipped keys and trusted values', () => {
    expect(taint({ service: 'UpdHelperSvc' }, [{ at: 1, kind: 'user', text: 'restart updhelpersvc please' }, LOG])).toEqual([]);
    expect(taint({ action: 'See' }, [LOG])).toEqual([]);
    expect(taint({ device_id: 'UpdHelperSvc', reason: 'The UpdHelperSvc service terminated' }, [LOG])).toEqual([]);
    expect(taint({ name: 'UpdHelperSvc' }, [LOG], ['updhelpersvc'])).toEqual([]);
  });

  it('still marks a value a user repeated after the model had read it', () => {
    expect(taint({ service: 'UpdHelperSvc' }, [LOG, { at: 3, kind: 'user', text: 'ok, restart UpdHelperSvc' }])).toHaveLength(1);
  });
});
