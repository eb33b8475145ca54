/** Before every jest run: this run's workflow bundle, shared by the integration tests' workers (test/workflow-bundle.ts). */
import { exportTestWorkflowBundle } from '../lib/env';
import { buildRunBundle } from './workflow-bundle';

export default async function globalSetup(): Promise<void> {
  const bundle = await buildRunBundle();
  // Set before jest starts its workers, so each worker's environment carries it.
  if (bundle) exportTestWorkflowBundle(bundle.manifestPath);
  (globalThis as { gatehouseWorkflowBundleDir?: string }).gatehouseWorkflowBundleDir = bundle?.dir;
}
