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
