import { execFileSync } from 'node:child_process';
import { CappedBuffer, OUTPUT_CAP_BYTES, runScript } from './run-script';

const alive = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false;
  }
};

it('runs a bash script and reports its exit code and output', async () => {
  const result = await runScript({ interpreter: 'bash', script: 'echo "hello $GATEHOUSE_PARAM_WHO"; echo oops >&2; exit 3', parameters: { who: 'acme' } });
  expect(result).toMatchObject({ exitCode: 3, timedOut: false, stdout: 'hello acme\n', stderr: 'oops\n', truncated: false });
});

it('kills the whole process tree when the script times out', async () => {
  const marker = `gatehouse-timeout-${process.pid}-${Date.now()}`;
  const script = `sleep 300 & exec -a ${marker} sleep 300`;
  const result = await runScript({ interpreter: 'bash', script: `bash -c 'exec -a ${marker} sleep 300' & ${script}`, timeoutSeconds: 1 });
  expect(result.timedOut).toBe(true);
  expect(result.exitCode).toBeNull();
  await new Promise((r) => setTimeout(r, 300));
  expect(alive(marker)).toBe(false);
});

it('caps output, keeping the head and the tail and marking the cut', async () => {
  const result = await runScript({ interpreter: 'bash', script: 'echo FIRST; head -c 300000 /dev/zero | tr "\\0" x; echo; echo LAST' });
  expect(result.truncated).toBe(true);
  expect(result.stdout.startsWith('FIRST')).toBe(true);
  expect(result.stdout.trimEnd().endsWith('LAST')).toBe(true);
  expect(result.stdout).toMatch(/\[… \d+ characters truncated …\]/);
  expect(result.stdout.length).toBeLessThan(OUTPUT_CAP_BYTES + 100);
});

it('says plainly when PowerShell is not installed', async () => {
  const hasPwsh = (() => {
    try {
      execFileSync('sh', ['-c', 'command -v pwsh']);
      return true;
    } catch {
      return false;
    }
  })();
  const run = runScript({ interpreter: 'powershell', script: 'Write-Output 1' });
  if (hasPwsh) await expect(run).resolves.toMatchObject({ exitCode: 0 });
  else await expect(run).rejects.toMatchObject({ code: 'UNSUPPORTED', message: 'PowerShell (pwsh) is not installed on this device' });
});

it('keeps exact head and tail halves in the capped buffer', () => {
  const buf = new CappedBuffer(10);
  buf.push('abcdefghij');
  expect(buf.toString()).toBe('abcdefghij');
  buf.push('KLMNO');
  expect(buf.truncated).toBe(true);
  expect(buf.toString()).toBe('abcde\n[… 5 characters truncated …]\nKLMNO');
});
