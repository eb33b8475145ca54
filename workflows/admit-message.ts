/**
 * How a turn admits its message before anything reaches the model: who wrote it (verified against the api's
 * record), whether the screen and the rate limits let it through, and the transcript row (refused text is stored
 * as refused, and no model request includes it).
 */
import type { SendMessageInput, TurnState } from '../common/session';
import { patched } from '@temporalio/workflow';
import { steps } from './activities';
import { Patch } from './patches';
import type { TurnIds } from './run-tool';
import type { CopilotSessionState } from './session-state';

/**
 * The author and text come from the api's record of the message, checked by an activity (session, rights, first
 * use). Then the screen and the rate limits; the message is stored after them, a refused one as refused, so its
 * text is never part of a model request.
 */
export async function admitMessage(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
  const db = steps();
  if (patched(Patch.OneStepAdmission)) return admitInOneStep(ids, session, turn, message);
  const verified = await db.verifyMessageRequest({
    ...ids,
    ...('requestId' in message ? { requestId: message.requestId } : { claimedUserId: message.userId }),
  });
  if (!verified.ok) {
    session.refuse(turn, verified.reason);
    return false;
  }
  turn.userId = verified.userId;
  const who = { ...ids, userId: verified.userId };
  const screened = await db.screenUserMessage({ ...who, text: verified.text });
  const admitted = screened.ok ? await db.checkRateLimits({ orgId: ids.orgId, userId: verified.userId, sessionId: ids.sessionId }) : screened;
  await db.recordUserMessage({ ...who, text: verified.text, ...(admitted.ok ? {} : { refused: true }) });
  if (!admitted.ok) session.refuse(turn, admitted.reason);
  return admitted.ok;
}

/**
 * The same checks in one activity (`admitUserMessage`, runs since `Patch.OneStepAdmission`): verified, screened and
 * the limits checked, in that order, the first refusal ending it; then the message stored, a refused one as refused.
 */
async function admitInOneStep(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
  const db = steps();
  const admitted = await db.admitUserMessage({
    ...ids,
    ...('requestId' in message ? { requestId: message.requestId } : { claimedUserId: message.userId }),
  });
  if (!admitted.ok && admitted.stage === 'verify') {
    session.refuse(turn, admitted.reason);
    return false;
  }
  turn.userId = admitted.userId;
  await db.recordUserMessage({ ...ids, userId: admitted.userId, text: admitted.text, ...(admitted.ok ? {} : { refused: true }) });
  if (!admitted.ok) session.refuse(turn, admitted.reason);
  return admitted.ok;
}
