/**
 * The bare baseline of the approval benches: a Temporal signal → the workflow → an activity starts, on the same
 * server, with the same payload codec, nothing of Gatehouse in it (`signalRoundTrip` in baseline-workflows.ts).
 * `once(i)` sends one signal and answers the time until its activity started, so a bench can take one bare round
 * beside each of its own: the machine's load (shared, and changing) then weighs on both alike.
 */
import { Worker } from '@temporalio/worker';
import { dataConverterOf } from '../lib/payload-codec';
import type { TestSystem } from '../test/harness';
import { waitUntil } from '../test/harness';

export interface BareSignal {
  once(i: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startBareSignal(sys: TestSystem, rounds: number): Promise<BareSignal> {
  const started = new Map<number, number>();
  const worker = await Worker.create({
    connection: sys.temporal.nativeConnection,
    // The same codec as the test system's client, which encrypts what it sends this worker.
    dataConverter: dataConverterOf(sys.payloadCodec),
    taskQueue: 'bench-baseline',
    workflowsPath: require.resolve('./baseline-workflows'),
    activities: { mark: async (i: number) => void started.set(i, Date.now()) },
  });
  const running = worker.run();
  const handle = await sys.temporal.client.workflow.start('signalRoundTrip', {
    taskQueue: 'bench-baseline',
    workflowId: `bench-baseline-${Date.now()}`,
    args: [rounds],
  });
  let sent = 0;
  return {
    async once(i) {
      const t0 = Date.now();
      await handle.signal('go', i);
      sent++;
      await waitUntil(async () => started.has(i), 'the baseline activity', 10_000);
      return started.get(i)! - t0;
    },
    async stop() {
      // A bench that stopped early (an error) leaves rounds unsent: end the workflow rather than leave it waiting.
      if (sent < rounds) await handle.terminate('the bench stopped early');
      else await handle.result();
      worker.shutdown();
      await running;
    },
  };
}
