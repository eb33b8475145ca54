/**
 * Runs a script as its own process group, so a timeout kills the whole tree (children included), with stdout and
 * stderr capped in the result (head and tail kept, truncation marked) and, when the agent gives it files, spooled
 * there in full up to the endpoint limit (see ../output-spool.ts). PowerShell runs where `pwsh` exists.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CommandParams, type FullOutput } from '../../common/protocol';
import { recordStream, type OutputFiles } from '../output-spool';
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

export interface ScriptResult {
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
  /** Present when the output was spooled to files. */
  fullOutput?: FullOutput;
}

export async function runScript(raw: Record<string, unknown>, opts: { path?: string; output?: OutputFiles; signal?: AbortSignal } = {}): Promise<ScriptResult> {
  const p = CommandParams.run_script.parse(raw);
  if (opts.signal?.aborted) throw new ExecutorError('TIMEOUT', 'timed out before it started');
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
    const child = spawn(cmd, args as string[], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL'); // the whole process group
      } catch {
        // already gone
      }
    };
    const timeOut = () => {
      timedOut = true;
      killGroup();
    };
    const timer = setTimeout(timeOut, p.timeoutSeconds * 1000);
    // The agent's dispatch timeout: the same kill as the script's own timer, whichever comes first.
    opts.signal?.addEventListener('abort', timeOut, { once: true });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', (err) => reject(new ExecutorError('EXECUTION_FAILED', err.message)));
      child.once('close', (code) => resolve(code));
    });
    try {
      const [code, out, err] = await Promise.all([
        exited,
        recordStream(child.stdout, opts.output?.file('stdout'), (t) => stdout.push(t)),
        recordStream(child.stderr, opts.output?.file('stderr'), (t) => stderr.push(t)),
      ]);
      return {
        exitCode: timedOut ? null : code,
        timedOut,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        truncated: stdout.truncated || stderr.truncated,
        durationMs: Date.now() - started,
        ...(opts.output ? { fullOutput: { stdout: out, stderr: err } } : {}),
      };
    } catch (err) {
      // The spool could not be written (a full disk): the script must not run on unwatched.
      killGroup();
      throw err instanceof ExecutorError ? err : new ExecutorError('EXECUTION_FAILED', `could not keep the script's output: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', timeOut);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
