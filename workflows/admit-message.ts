/**
 * How a turn admits its message before anything reaches the model: who wrote it (verified against the api's
 * record), whether the screen and the rate limits let it through, and the transcript row (refused text is stored
 * as refused, and no model request includes it).
 */
import { patched } from '@temporalio/workflow';
import type { SendMessageInput, TurnState } from '../common/session';
import { db } from './activities';
import type { TurnIds } from './run-tool';
import type { CopilotSessionState } from './session-state';

// Added after histories were recorded: sessions replaying an older history skip the guards for the turns already
// in it, and every new turn runs them.
export const GUARDS_PATCH = 'budget-and-rate-limits';
const SCREEN_PATCH = 'screen-user-message';

/**
 * The author and text come from the api's record of the message, checked by an activity (session, rights, first
 * use). Then the screen and the rate limits; the message is stored after them, a refused one as refused, so its
 * text is never part of a model request.
 */
export async function admitMessage(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
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

/** Turns of histories recorded before messages were verified, as they ran then (the message carried its author). */
export async function admitLegacyMessage(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
  const { text, userId } = 'text' in message ? message : { text: '', userId: '' };
  turn.userId = userId;
  await db.recordUserMessage({ ...ids, userId, text });
  if (patched(SCREEN_PATCH)) {
    const screened = await db.screenUserMessage({ ...ids, userId, text });
    if (!screened.ok) {
      session.refuse(turn, screened.reason);
      return false;
    }
  }
  if (patched(GUARDS_PATCH)) {
    const limits = await db.checkRateLimits({ orgId: ids.orgId, userId, sessionId: ids.sessionId });
    if (!limits.ok) {
      session.refuse(turn, limits.reason);
      return false;
    }
  }
  return true;
}
