/**
 * How a turn admitted its message in histories recorded before messages were verified against the api's record:
 * the message carried its author and text. Frozen: `copilotSession` runs it only for turns without the
 * `Patch.VerifiedTurns` marker.
 */
import { patched } from '@temporalio/workflow';
import type { SendMessageInput, TurnState } from '../../common/session';
import { db } from '../activities';
import { Patch } from '../patches';
import type { TurnIds } from '../run-tool';
import type { CopilotSessionState } from '../session-state';

/** Turns of histories recorded before messages were verified, as they ran then (the message carried its author). */
export async function admitLegacyMessage(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<boolean> {
  const { text, userId } = 'text' in message ? message : { text: '', userId: '' };
  turn.userId = userId;
  await db.recordUserMessage({ ...ids, userId, text });
  if (patched(Patch.ScreenMessage)) {
    const screened = await db.screenUserMessage({ ...ids, userId, text });
    if (!screened.ok) {
      session.refuse(turn, screened.reason);
      return false;
    }
  }
  if (patched(Patch.Guards)) {
    const limits = await db.checkRateLimits({ orgId: ids.orgId, userId, sessionId: ids.sessionId });
    if (!limits.ok) {
      session.refuse(turn, limits.reason);
      return false;
    }
  }
  return true;
}
