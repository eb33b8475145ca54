/**
 * jest runs many test files in one worker process, and something a file started can outlive it (an api node whose
 * shutdown overran the harness's bound, a query still in flight). jest 30 by default "soft-deletes" what a file
 * left on its globals: each property becomes an accessor whose setter calls itself (jestjs/jest#16044, still in
 * 30.5.2). Prisma's client writes `PRISMA_WASM_PANIC_REGISTRY.set_message`, a global of the file that created it,
 * around every query it compiles, so each query of such a client failed with "Maximum call stack size exceeded", the
 * error full runs of workflows/remediation-long logged by the thousand. jest.config.js turns that cleanup off.
 * Proved with jest itself: two fixture files in one process under this repository's jest configuration.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { environment, loadEnv } from '../lib/env';

const root = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'outlived-client');
const env = loadEnv(environment({ NODE_ENV: 'test' }));

interface JestJson {
  testResults: { name: string; status: string; message: string }[];
}

it('lets a Prisma client that outlives its test file keep answering queries in the files after it', async () => {
  // Both files in one process, as in a worker that is not recycled (recycling it after every file hid the fault).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { workerIdleMemoryLimit: _fresh, ...config } = require('../jest.config.js') as Record<string, unknown>;
  const oneProcess = {
    ...config,
    rootDir: root,
    roots: [fixtures],
    testMatch: ['**/*.fixture.ts'],
    testSequencer: path.join(fixtures, 'sequencer.js'),
    reporters: ['default'],
  };
  const run = promisify(execFile);
  // --json: the results on stdout, everything else on stderr. jest exits non-zero when a fixture fails.
  const { stdout, stderr } = await run(process.execPath, [require.resolve('jest/bin/jest'), '--config', JSON.stringify(oneProcess), '--runInBand', '--json', '--ci'], {
    cwd: root,
    env: environment({ TEST_DATABASE_URL: env.TEST_DATABASE_URL }),
  }).catch((err: { stdout: string; stderr: string }) => err);
  if (!stdout.trim().startsWith('{')) throw new Error(`jest did not run the fixtures:\n${stderr.slice(-2000)}`);
  const results = (JSON.parse(stdout) as JestJson).testResults.map((r) => ({ file: path.basename(r.name), status: r.status, message: r.message }));
  expect(results).toEqual([
    { file: '1-leaves-a-client.fixture.ts', status: 'passed', message: '' },
    { file: '2-uses-it-later.fixture.ts', status: 'passed', message: '' },
  ]);
}, 120_000);
