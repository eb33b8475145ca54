/**
 * The run's answers to its patches, asked once at its start (`Patch.PatchesAtStart`), so that every marker is in the
 * run's first workflow task and a replay meets it where the live run wrote it, whatever order local activities'
 * results and queries came in later. Runs from before that patch ask each patch where its branch is, as they did.
 *
 * Module state is the run's own: the worker loads workflow modules once per run (see ./activities.ts).
 */
import { patched } from '@temporalio/workflow';
import { Patch, type PatchId } from './patches';

const answers = new Map<PatchId, boolean>();

/** Asks for these patches now, in a run started since `Patch.PatchesAtStart`; call before the run's first await. */
export function askPatchesAtStart(ids: readonly PatchId[]): void {
  if (!patched(Patch.PatchesAtStart)) return;
  // (Typed PatchId: only ids of the one list reach here.)
  // eslint-disable-next-line no-restricted-syntax
  for (const id of ids) answers.set(id, patched(id));
}

/** Whether the run takes the patch's branch: the answer given at its start, else asked here (runs from before). */
export function isPatched(id: PatchId): boolean {
  // eslint-disable-next-line no-restricted-syntax
  return answers.get(id) ?? patched(id);
}
