/**
 * The api (`api/main.ts`, as deployed) in a process of its own, on the test system's database, Redis and Temporal,
 * with the memory probe preloaded: a benchmark can read its memory after a full GC without anything of the
 * benchmark itself (clients, harness, the harness's own api node) in the numbers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { environment } from '../lib/env';
import { waitForPort } from '../lib/tcp';
import type { TestSystem } from '../test/harness';
import { freePort } from '../test/services';
import type { MemoryReport } from './memory-probe';
import { stopProcess } from './simulated-agents';

const root = path.resolve(__dirname, '..');

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  /** Memory of the api process after a full GC (the probe's answer). */
  memory(timeoutMs?: number): Promise<MemoryReport>;
  /**
   * The process's limit of open files (Linux; undefined elsewhere). Every agent's connection is one: at this
   * machine's limit of 20,000 (soft and hard) the api held 19,966 agents and the rest failed to connect, for good.
   */
  openFiles: number | undefined;
  stop(): Promise<void>;
}

/** `port`: listen there (a restarted node keeps its address, so its agents find it again); a free one otherwise. */
export async function startApiProcess(sys: TestSystem, opts: { signingKeyPem: string; dataDir: string; port?: number }): Promise<ApiProcess> {
  const port = opts.port ?? (await freePort());
  const [command, ...args] = [process.execPath, '--expose-gc', '--import', 'tsx', '--import', path.join(__dirname, 'memory-probe.ts'), path.join(root, 'api', 'main.ts')];
  const child = spawn(command!, args, {
    cwd: root,
    env: environment({
      NODE_ENV: 'test',
      LOG_LEVEL: sys.env.TEST_LOG_LEVEL,
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: '',
      DATABASE_URL: sys.env.TEST_DATABASE_URL,
      REDIS_URL: sys.env.REDIS_URL,
      TEMPORAL_ADDRESS: sys.temporal.address,
      TEMPORAL_TASK_QUEUE: sys.taskQueue,
      DATA_DIR: opts.dataDir,
      COMMAND_SIGNING_KEY: opts.signingKeyPem,
      WEB_SECRET: crypto.randomBytes(32).toString('hex'),
      PAYLOAD_KEYS: sys.payloadKeys,
      // Approval channels off: nothing but the api itself in the process.
      SMTP_URL: '',
      SLACK_BOT_TOKEN: '',
      SLACK_SIGNING_SECRET: '',
    }),
    // The api's log goes to stderr, so stdout stays the benchmark's JSON lines.
    stdio: ['ignore', 2, 'inherit', 'ipc'],
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`the api process exited (${signal ?? code})`))));
  exited.catch(() => undefined);
  const up = await Promise.race([waitForPort('127.0.0.1', port, { seconds: 60 }), exited]);
  if (!up) {
    await stopProcess(child);
    throw new Error(`the api process did not listen on port ${port} within 60 s`);
  }

  const memory: ApiProcess['memory'] = (timeoutMs = 30_000) =>
    new Promise<MemoryReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(new Error('the api process did not report its memory'));
      }, timeoutMs);
      const onMessage = (msg: unknown) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(msg as MemoryReport);
      };
      child.on('message', onMessage);
      child.send('memory');
    });

  return { url: `http://127.0.0.1:${port}`, child, memory, openFiles: openFilesOf(child.pid), stop: () => stopProcess(child, 20_000) };
}

/** The soft limit of open files of a process, from /proc (Linux); undefined where there is none. */
function openFilesOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}
