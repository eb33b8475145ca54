import { sessionOfWorkflowId } from '../common/ids';
import { isCommandOutcome, type CommandOutcome } from '../common/session';
import { audit } from '../audit/log';
import type { ActivityDeps } from './deps';

export interface ReadCommandOutcomesInput {
  orgId: string;
  /** The workflow asking (a session or a remediation): only commands whose rows name it count. */
  reportTo: string;
  /** Its id as the api and the audit log name it (the tool invocation's id). */
  invocationId: string;
  /** What a `commandResults` signal claimed; only a hint to look. `reread`: read before, and audited then if contradicted. */
  claims: { commandId: string; status: CommandOutcome; reread?: true }[];
}

/**
 * How the commands a result signal named really ended, from their `DeviceCommand` rows (written only by the
 * gateway, from the command's own device). Anyone who reaches Temporal can send that signal, so its claims decide
 * nothing: a command still running stays running, and a claim the rows contradict is audited.
 */
export function makeReadCommandOutcomes({ pool, prisma, logger }: ActivityDeps) {
  return async function readCommandOutcomes(input: ReadCommandOutcomesInput): Promise<{ outcomes: { commandId: string; status: CommandOutcome }[] }> {
    const { rows } = await pool.query<{ id: string; status: string }>({
      name: 'device-commands.read-outcomes',
      text: `SELECT "id", "status" FROM "DeviceCommand" WHERE "id" = ANY($1::text[]) AND "orgId" = $2::uuid AND "reportTo" = $3`,
      values: [input.claims.map((c) => c.commandId), input.orgId, input.reportTo],
    });
    const recorded = new Map(rows.map((r) => [r.id, r.status]));
    const outcomes = rows.flatMap((r) => (isCommandOutcome(r.status) ? [{ commandId: r.id, status: r.status }] : []));
    // (A kept hint is read again every few seconds until its command ends: its contradiction is audited the first time.)
    const contradicted = input.claims.filter((c) => !c.reread && recorded.get(c.commandId) !== c.status);
    if (contradicted.length > 0) {
      await audit(prisma, {
        orgId: input.orgId,
        actorType: 'system',
        action: 'command.result_contradicted',
        target: input.invocationId,
        sessionId: sessionOfWorkflowId(input.reportTo),
        data: {
          count: contradicted.length,
          examples: contradicted.slice(0, 10).map((c) => ({ commandId: c.commandId, claimed: c.status, recorded: recorded.get(c.commandId) ?? null })),
        },
      }).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'audit event could not be written'));
    }
    return { outcomes };
  };
}
