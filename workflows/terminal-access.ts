/**
 * `terminalAccess` (id `terminal:<orgId>:<terminalId>`): one technician's request for a remote terminal. It asks
 * for an approval through the same records and decision service as a tool call (the decision arrives as the same
 * `approvalDecision` signal and counts only once an activity has checked it against the record), then holds the
 * window the approval opened and ends it when its time is up. A revoke or the kill switch ends it sooner: the api
 * closes the live terminals at once itself, and tells this workflow, which reads the record and stops waiting.
 * The api and the agent both enforce the window's end on their own too; this workflow is the request's history.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { ApprovalDecisionSignal, CopilotPausedSignal } from '../common/session';
import { db } from './activities';
import { approvalDecisionSignal, copilotPausedSignal, terminalChangedSignal } from './definitions';

export interface TerminalAccessInput {
  terminalId: string;
  orgId: string;
}

const PAUSED = 'the copilot was paused for this organization';

export async function terminalAccess(input: TerminalAccessInput): Promise<string> {
  const ref = { terminalId: input.terminalId, orgId: input.orgId };
  const decisions: ApprovalDecisionSignal[] = [];
  let hints = 0;
  setHandler(approvalDecisionSignal, (raw) => {
    const parsed = ApprovalDecisionSignal.safeParse(raw);
    if (parsed.success) decisions.push(parsed.data);
  });
  // Hints only: the record is read before anything is done about them.
  setHandler(copilotPausedSignal, (raw) => {
    if (CopilotPausedSignal.safeParse(raw).success) hints += 1;
  });
  setHandler(terminalChangedSignal, () => {
    hints += 1;
  });

  const { approvalId, expiresAt } = await db.requestTerminalApproval(ref);
  const expiresAtMs = new Date(expiresAt).getTime();
  let grant;
  for (;;) {
    const seen = hints;
    const woke = await condition(() => decisions.length > 0 || hints !== seen, Math.max(expiresAtMs - Date.now(), 0));
    if (hints !== seen) {
      const now = await db.readTerminalGrant(ref);
      if (now.paused && now.status === 'pending') grant = await db.cancelTerminalApproval({ ...ref, reason: PAUSED });
      else if (now.status !== 'pending') grant = now;
      if (grant) break;
      continue;
    }
    if (!woke) {
      grant = await db.expireTerminalApproval(ref);
      break;
    }
    const signal = decisions.shift()!;
    if (signal.approvalId !== approvalId) continue;
    const verdict = await db.verifyTerminalDecision({ ...ref, signal });
    if (verdict.valid) {
      grant = verdict.grant;
      break;
    }
  }
  if (grant.status !== 'approved' || !grant.windowEndsAt) return grant.status;

  const windowEndsAtMs = new Date(grant.windowEndsAt).getTime();
  let reason: 'window' | 'paused' = 'window';
  for (;;) {
    const seen = hints;
    const woke = await condition(() => hints !== seen, Math.max(windowEndsAtMs - Date.now(), 0));
    if (!woke) break;
    const now = await db.readTerminalGrant(ref);
    if (now.paused) reason = 'paused';
    if (now.paused || now.status !== 'approved') break;
  }
  await db.endTerminalGrant({ ...ref, reason });
  return reason;
}
