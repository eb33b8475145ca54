/** After every jest run: removes the run's workflow bundle, so no later run can pick it up. */
import { removeRunBundle } from './workflow-bundle';

export default async function globalTeardown(): Promise<void> {
  const dir = (globalThis as { gatehouseWorkflowBundleDir?: string }).gatehouseWorkflowBundleDir;
  if (dir) await removeRunBundle(dir);
}
