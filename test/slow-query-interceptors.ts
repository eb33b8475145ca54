/**
 * A workflow interceptor module for tests only: every query takes tens of milliseconds of the workflow thread, as on
 * a loaded worker. A local activity that finishes meanwhile is then recorded with the workflow task that answers the
 * query, while the workflow sees its result only in the next task (workflows/hint-grouping.test.ts says why that
 * matters). Busy work, not a timer: a workflow cannot sleep in a query, and its clock stands still.
 */
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

const SPINS = 15_000_000;

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      handleQuery: (input, next) => {
        let x = 0;
        for (let i = 0; i < SPINS; i++) x += i % 7;
        return x >= 0 ? next(input) : next(input);
      },
    },
  ],
});
