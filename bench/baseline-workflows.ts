/**
 * Baselines for the benchmarks: the bare Temporal path with nothing of Gatehouse in it. `signalRoundTrip` waits
 * for a signal and then runs one activity, the same shape as "approval decision → workflow → device activity".
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

export const goSignal = defineSignal<[number]>('go');

const { mark } = proxyActivities<{ mark(i: number): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function signalRoundTrip(rounds: number): Promise<void> {
  const received: number[] = [];
  setHandler(goSignal, (i) => {
    received.push(i);
  });
  for (let done = 0; done < rounds; done++) {
    await condition(() => received.length > 0);
    await mark(received.shift()!);
  }
}

const { noop } = proxyActivities<{ noop(i: number): Promise<void> }>({ startToCloseTimeout: '30s' });

/** `n` no-op activities, at most `window` at a time, started as others finish: the remediation's shape, bare. */
export async function fanout(n: number, window: number): Promise<void> {
  let next = 0;
  const inflight = new Set<Promise<void>>();
  while (next < n || inflight.size > 0) {
    while (inflight.size < window && next < n) {
      const p: Promise<void> = noop(next++).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
}

const { askModel } = proxyActivities<{ askModel(step: number): Promise<void> }>({ startToCloseTimeout: '1m' });
const { askDevice } = proxyActivities<{ askDevice(i: number): Promise<void> }>({ startToCloseTimeout: '1m' });

/** A T1 question's shape, bare: a model call, one round trip to an agent process over Socket.IO, a model call. */
export async function askRoundTrip(i: number): Promise<void> {
  await askModel(0);
  await askDevice(i);
  await askModel(1);
}
