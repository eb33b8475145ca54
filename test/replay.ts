/**
 * Replays a workflow's whole history, as a worker does when it lost the run from its cache (a restart, an eviction,
 * a query on a closed workflow): any step the code would now take differently fails as a nondeterminism error.
 * Integration tests call it on the runs they drove, so a new path through a workflow is replayed at least once.
 */
import { Worker } from '@temporalio/worker';
import { environment, loadEnv } from '../lib/env';
import { createWorkerMetrics } from '../lib/metrics';
import { dataConverterOf } from '../lib/payload-codec';
import { sinksOf, WORKER_BUNDLING_OPTIONS } from '../worker/create-worker';
import type { TestSystem } from './harness';
import { freshRunBundle } from './workflow-bundle';

export async function expectReplays(sys: TestSystem, workflowId: string): Promise<void> {
  const history = await sys.temporal.client.workflow.getHandle(workflowId).fetchHistory();
  const bundle = await freshRunBundle(loadEnv(environment()).TEST_WORKFLOW_BUNDLE);
  await Worker.runReplayHistory({ ...(bundle ? { workflowBundle: bundle } : WORKER_BUNDLING_OPTIONS), sinks: sinksOf(createWorkerMetrics()), dataConverter: dataConverterOf(sys.payloadCodec) }, history, workflowId);
}
