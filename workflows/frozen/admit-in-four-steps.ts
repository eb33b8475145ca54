/**
 * How a turn admitted its message in histories recorded before `Patch.OneStepAdmission`: the verification, the
 * screen and the message limits as three local activities, then the store. Frozen: `admitMessage` runs it only for
 * turns without that marker.
 */
import type { SendMessageInput, TurnState } from '../../common/session';
import { steps } from '../activities';
import type { TurnIds } from '../run-tool';
import type { CopilotSessionState } from '../session-state';

export async function admitInFourSteps(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
  const db = steps();
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
