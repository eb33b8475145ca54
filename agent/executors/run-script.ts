/**
 * Runs a script as its own process group, so a timeout kills the whole tree (children included), with stdout and
 * stderr capped (head and tail kept, truncation marked). PowerShell runs where `pwsh` exists.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CommandParams } from '../../common/protocol';
import { ExecutorError } from './types';

export const OUTPUT_CAP_BYTES = 64 * 1024;

/** Keeps the first and last halves of a stream once it passes the cap. */
export class CappedBuffer {
  private head = '';
  private tail = '';
  private total = 0;
  constructor(private readonly cap: number) {}

  push(chunk: string): void {
    this.total += chunk.length;
    const half = this.cap / 2;
    if (this.head.length < half) {
      const take = chunk.slice(0, half - this.head.length);
      this.head += take;
      chunk = chunk.slice(take.length);
    }
    if (chunk) this.tail = (this.tail + chunk).slice(-half);
  }

  get truncated(): boolean {
    return this.total > this.head.length + this.tail.length;
  }

  toString(): string {
    if (!this.truncated) return this.head + this.tail;
    const dropped = this.total - this.head.length - this.tail.length;
    return `${this.head}\n[… ${dropped} characters truncated …]\n${this.tail}`;
  }
}

const hasPwsh = () => spawnSync('sh', ['-c', 'command -v pwsh'], { stdio: 'ignore' }).status === 0;
const envName = (k: string) => `GATEHOUSE_PARAM_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;

export async function runScript(raw: Record<string, unknown>, opts: { path?: string } = {}) {
  const p = CommandParams.run_script.parse(raw);
  if (p.interpreter === 'powershell' && !hasPwsh()) throw new ExecutorError('UNSUPPORTED', 'PowerShell (pwsh) is not installed on this device');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-script-'));
  const file = path.join(dir, p.interpreter === 'bash' ? 'script.sh' : 'script.ps1');
  await writeFile(file, p.script, { mode: 0o700 });
  const [cmd, args] = p.interpreter === 'bash' ? ['bash', [file]] : ['pwsh', ['-NoProfile', '-NonInteractive', '-File', file]];
  // Scripts get a minimal environment: the agent's PATH, never its other variables (credentials, config).
  const env: NodeJS.ProcessEnv = { PATH: opts.path ?? '/usr/local/bin:/usr/bin:/bin', HOME: os.homedir(), LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(p.parameters)) env[envName(k)] = v;

  const started = Date.now();
  const stdout = new CappedBuffer(OUTPUT_CAP_BYTES);
  const stderr = new CappedBuffer(OUTPUT_CAP_BYTES);
  try {
    return await new Promise<{ exitCode: number | null; timedOut: boolean; stdout: string; stderr: string; truncated: boolean; durationMs: number }>((resolve, reject) => {
      const child = spawn(cmd, args as string[], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL'); // the whole process group
        } catch {
          // already gone
        }
      }, p.timeoutSeconds * 1000);
      child.stdout.setEncoding('utf8').on('data', (c: string) => stdout.push(c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => stderr.push(c));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new ExecutorError('EXECUTION_FAILED', err.message));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({
          exitCode: timedOut ? null : code,
          timedOut,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
          truncated: stdout.truncated || stderr.truncated,
          durationMs: Date.now() - started,
        });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
