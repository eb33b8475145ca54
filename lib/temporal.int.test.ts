/**
 * A Temporal call still in flight when its connection closes and the server goes away (a test system stopping, a
 * CLI exiting) must fail to its caller. Without StoppableRetries, @temporalio/client retries it on a timer that
 * `Connection.close()` does not clear, the retry throws "Channel has been shut down" out of that timer, and the whole
 * process (here: this jest file) dies of an uncaught exception. CI saw that at the teardown of browser tests.
 */
import crypto from 'node:crypto';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { environment, loadEnv, temporalCliPath } from './env';
import { closeTemporalConnection, StoppableRetries } from './temporal';

jest.setTimeout(60_000);

test('a call in flight when the connection closes and the server stops fails to its caller, and nothing retries on the closed connection', async () => {
  const env = loadEnv(environment());
  const retries = new StoppableRetries();
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath(env) }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
    plugins: [retries],
  });
  // A workflow no worker serves: waiting for its result is a long poll that stays in flight until the server goes.
  const handle = await temporal.client.workflow.start('nobodyServesThis', { taskQueue: `nobody-${crypto.randomBytes(4).toString('hex')}`, workflowId: `in-flight-${crypto.randomUUID()}` });
  const outcome = handle.result().then(
    () => 'resolved',
    (err: unknown) => `failed: ${(err as Error).message}`,
  );
  // Give the long poll time to reach the server.
  await new Promise((resolve) => setTimeout(resolve, 300));

  retries.stop();
  await temporal.teardown();

  expect(await outcome).toMatch(/^failed: /);
  // The default policy's retries come 100 ms to seconds apart; one firing on the closed channel would throw out of
  // its timer while this test still runs, and jest would fail the file with "Channel has been shut down".
  await new Promise((resolve) => setTimeout(resolve, 3000));
});

test('a retry already waiting on its timer when the connection closes ends its call instead of reaching the closed channel', async () => {
  // Nothing listens on port 1: the first attempt fails at once (UNAVAILABLE) and its retry waits on a timer.
  const connection = Connection.lazy({ address: '127.0.0.1:1', plugins: [new StoppableRetries()] });
  const outcome = connection.workflowService.getSystemInfo({}).then(
    () => 'resolved',
    (err: unknown) => `failed: ${(err as Error).message}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 60));
  await closeTemporalConnection(connection);
  expect(await outcome).toMatch(/^failed: .*(the Temporal connection is closing|UNAVAILABLE)/);
});

test('StoppableRetries refuses to be combined with other gRPC interceptors, which could retry on their own', () => {
  expect(() => new StoppableRetries().configureConnection({ interceptors: [] })).toThrow(/pass no other interceptors/);
});
