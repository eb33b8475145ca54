/**
 * Waiting for a human: the workflow sleeps on `condition(…, expiry)` until a decision is signalled, the approval
 * expires, or the org is paused. A signalled decision counts only after an activity has checked it against the
 * decision recorded in the database (approver, digest, T4 rules); anything else is ignored and audited there.
 */
import { condition } from '@temporalio/workflow';
import type { ApprovalDecisionSignal, ApprovalOutcome } from '../common/session';
import { db, steps } from './activities';
import type { CopilotSessionState } from './session-state';

/** How a signalled decision is checked, when not by `verifyApprovalDecision` alone (./device-commands.ts `QueueWithApproval`). */
export interface DecisionCheck {
  verify(signal: ApprovalDecisionSignal): Promise<{ valid: true; outcome: ApprovalOutcome } | { valid: false; reason: string }>;
}

export async function awaitApproval(session: CopilotSessionState, approvalId: string, expiresAtMs: number, check?: DecisionCheck): Promise<ApprovalOutcome> {
  for (;;) {
    const remaining = Math.max(expiresAtMs - Date.now(), 0);
    const woke = await condition(() => session.decisions.length > 0 || session.paused, remaining);
    if (session.paused) return db.cancelApproval({ approvalId, reason: 'the copilot was paused for this organization' });
    if (!woke) return db.expireApproval({ approvalId });
    const signal = session.decisions.shift()!;
    if (signal.approvalId !== approvalId) continue; // a late decision for an earlier approval
    const verdict = check ? await check.verify(signal) : await steps().verifyApprovalDecision({ signal });
    if (verdict.valid) return verdict.outcome;
  }
}
