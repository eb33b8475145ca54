/**
 * The workflow id a single history file ran under. Replay needs it: the copilot session derives its remediation
 * children's ids from its own id, so replaying under any other id reports a child id mismatch — a false
 * "nondeterminism" alarm for what is only a missing argument. A bare history (as the Temporal Web UI downloads it)
 * carries no manifest, so the id is read from the history itself where it can be:
 *   1. the start event's own `workflowId`, which recent Temporal servers record;
 *   2. for a `copilotSession`, its input (orgId and sessionId; the id is `copilotWorkflowId(orgId, sessionId)`);
 *   3. for a `copilotSession`, the ids of the remediation children it started (`<id>:remediation:<call>`).
 * Otherwise the answer says why it cannot, and the caller asks for `--workflow-id`.
 *
 * Payloads may be encoded by a codec (encryption): pass the deployment's `DataConverter` to decode the input;
 * without one, only unencoded (json/plain) payloads are read, and an encoded input is simply not a source.
 */
import type { DataConverter } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/data-converter-helpers';
import type { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { copilotWorkflowId, sessionOfRemediationWorkflowId, Uuid } from '../common/ids';

type History = temporal.api.history.v1.IHistory;

export type HistoryWorkflowId = { workflowId: string; source: string } | { workflowId: null; reason: string };

const SessionInput = z.object({ orgId: Uuid, sessionId: Uuid });
export async function workflowIdOfHistory(history: History, dataConverter?: DataConverter): Promise<HistoryWorkflowId> {
  const start = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!start) return { workflowId: null, reason: 'the history does not begin with a workflow start event' };
  if (start.workflowId) return { workflowId: start.workflowId, source: 'the start event' };
  const type = start.workflowType?.name ?? '(unknown type)';
  if (type !== 'copilotSession') {
    return { workflowId: null, reason: `a ${type} history from a Temporal server that did not record the workflow id, and its id cannot be derived from its input` };
  }
  const input = await sessionInput(start.input?.payloads ?? [], dataConverter);
  if (input) return { workflowId: copilotWorkflowId(input.orgId, input.sessionId), source: "the session's input" };
  const fromChildren = new Set(
    (history.events ?? []).flatMap((e) => sessionOfRemediationWorkflowId(e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? '') ?? []),
  );
  if (fromChildren.size === 1) return { workflowId: [...fromChildren][0]!, source: 'the ids of its remediation children' };
  return {
    workflowId: null,
    reason: `the history does not record the workflow id, and the session's input cannot be read${dataConverter ? '' : ' (it may be encrypted; no payload codec was given)'}`,
  };
}

/** The session's orgId and sessionId, or null when the input is missing, encoded with a codec not given, or malformed. */
async function sessionInput(payloads: temporal.api.common.v1.IPayload[], dataConverter?: DataConverter): Promise<z.infer<typeof SessionInput> | null> {
  try {
    const value = await decodeFromPayloadsAtIndex(loadDataConverter(dataConverter), 0, payloads);
    const parsed = SessionInput.safeParse(value);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
