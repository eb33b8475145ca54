/**
 * Tells the workflow a command's row names (`reportTo`: the session of a single tool call, or a remediation) that
 * its command ended, with the `commandResults` signal: one path for every command. One signal per workflow is in
 * flight at a time; results that arrive meanwhile go together in the next one, so a busy remediation hears of many
 * devices per signal and a session of its command at once. A result is marked
 * reported only once Temporal has accepted its signal; until then the gateway's sweep offers it again.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { MAX_RESULTS_PER_SIGNAL, type CommandOutcome, type CommandResults } from '../../common/session';
import { commandResultsSignal } from '../../workflows/definitions';
import { markReported } from '../../lib/device-commands';
import type { ApiDeps } from '../deps';

export interface ResultSignaller {
  report(workflowId: string, commandId: string, status: CommandOutcome): void;
}

export function createResultSignaller({ pool, temporal, logger }: Pick<ApiDeps, 'pool' | 'temporal' | 'logger'>): ResultSignaller {
  const waiting = new Map<string, Map<string, CommandOutcome>>();
  const sending = new Map<string, Promise<void>>();

  async function signal(workflowId: string, results: CommandResults['results']): Promise<void> {
    try {
      await temporal.workflow.getHandle(workflowId).signal(commandResultsSignal, { results });
    } catch (err) {
      // A workflow that is gone (finished, cancelled, terminated) has nobody left to tell.
      if (!(err instanceof WorkflowNotFoundError)) {
        logger.warn({ workflowId, err: (err as Error).message }, 'could not signal the workflow yet; the sweep retries');
        return;
      }
    }
    await markReported(pool, results.map((r) => r.commandId));
  }

  async function drain(workflowId: string): Promise<void> {
    for (let batch = waiting.get(workflowId); batch?.size; batch = waiting.get(workflowId)) {
      waiting.delete(workflowId);
      const results = [...batch].map(([commandId, status]) => ({ commandId, status }));
      for (let i = 0; i < results.length; i += MAX_RESULTS_PER_SIGNAL) {
        await signal(workflowId, results.slice(i, i + MAX_RESULTS_PER_SIGNAL)).catch((err: unknown) =>
          logger.warn({ workflowId, err: (err as Error).message }, 'could not record that the workflow was told; the sweep retries'),
        );
      }
    }
  }

  const start = (workflowId: string) => {
    const done = drain(workflowId).finally(() => {
      sending.delete(workflowId);
      // A result added after the drain's last look and before this line must not wait for the sweep.
      if (waiting.get(workflowId)?.size) start(workflowId);
    });
    sending.set(workflowId, done);
  };

  return {
    report(workflowId, commandId, status) {
      const batch = waiting.get(workflowId) ?? new Map<string, CommandOutcome>();
      batch.set(commandId, status);
      waiting.set(workflowId, batch);
      if (!sending.has(workflowId)) start(workflowId);
    },
  };
}
