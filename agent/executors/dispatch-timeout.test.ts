/**
 * The agent's dispatch timeout with the real Linux executor: when it passes, the script's whole process tree is
 * killed before TIMEOUT is reported, even though the script's own timer would have let it run for minutes.
 */
import { execFileSync } from 'node:child_process';
import { PROTOCOL_VERSION, type CommandDispatch } from '../../common/protocol';
import { execute } from '../connection';
import { createLinuxExecutor } from './linux';

const alive = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false;
  }
};

const dispatch = (params: Record<string, unknown>, timeoutSeconds: number): CommandDispatch => ({
  v: PROTOCOL_VERSION,
  commandId: `dispatch-timeout-${Date.now()}`,
  kind: 'run_script',
  params,
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
  timeoutSeconds,
  approvalDigest: null,
  signature: 'verified by the connection before execute',
});

it('kills a script and its child processes when the dispatch timeout passes, and reports TIMEOUT', async () => {
  const marker = `gatehouse-dispatch-timeout-${process.pid}-${Date.now()}`;
  // The script's own timer is five minutes; the dispatch timeout is one second.
  const script = `bash -c 'exec -a ${marker}-child sleep 300' & exec -a ${marker}-main sleep 300`;
  const result = await execute(createLinuxExecutor(), dispatch({ interpreter: 'bash', script, timeoutSeconds: 300 }, 1), {});

  expect(result).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
  expect(alive(`${marker}-main`)).toBe(false);
  expect(alive(`${marker}-child`)).toBe(false);
});

it('reports a script that finishes within the dispatch timeout as it ran', async () => {
  const result = await execute(createLinuxExecutor(), dispatch({ interpreter: 'bash', script: 'echo done', timeoutSeconds: 300 }, 30), {});
  expect(result).toMatchObject({ ok: true, output: { exitCode: 0, timedOut: false, stdout: 'done\n' } });
});

it('stops a network scan at its dispatch timeout instead of probing on', async () => {
  const abort = new AbortController();
  abort.abort();
  await expect(createLinuxExecutor({ allowLoopbackDiscovery: true }).network_discovery({ cidr: '127.0.0.0/30', ports: [1] }, { signal: abort.signal })).rejects.toMatchObject({ code: 'TIMEOUT' });
});
