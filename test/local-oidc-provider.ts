/**
 * The local OpenID provider (ops/oidc-provider/main.ts, `oidc-provider`) as a child process of a test: it is a
 * separate service, and ESM only, so it runs as `npm start` runs it rather than inside jest.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface LocalProviderConfig {
  clients: { clientId: string; clientSecret: string; redirectUris: string[] }[];
  users: { email: string; password: string; name: string; emailVerified: boolean }[];
}

export interface LocalProvider {
  issuer: string;
  stop(): Promise<void>;
}

export async function startLocalProvider(config: LocalProviderConfig): Promise<LocalProvider> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-oidc-'));
  const file = path.join(dir, 'provider.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, ...config }), { mode: 0o600 });
  const root = path.resolve(__dirname, '..');
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'ops', 'oidc-provider', 'main.ts'), '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local OpenID provider did not start in 30 s:\n${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += String(chunk);
      const m = /oidc-provider listening (\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', read);
    proc.stderr.on('data', read);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local OpenID provider exited with ${code}:\n${output}`));
    });
  });
  return {
    issuer,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A client secret for a test's provider. */
export const testClientSecret = () => crypto.randomBytes(24).toString('base64url');
