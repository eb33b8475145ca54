/**
 * How a turn admits its message before anything reaches the model: who wrote it (verified against the api's
 * record), whether the screen and the rate limits let it through, and the transcript row (refused text is stored
 * as refused, and no model request includes it).
 */
import type { SendMessageInput, TurnState } from '../common/session';
import { steps } from './activities';
import { admitInFourSteps } from './frozen/admit-in-four-steps';
import { Patch } from './patches';
import { isPatched } from './run-patches';
import type { TurnIds } from './run-tool';
import type { CopilotSessionState } from './session-state';

/**
 * The author and text come from the api's record of the message, checked by an activity (session, rights, first
 * use). Then the screen and the rate limits; the message is stored after them, a refused one as refused, so its
 * text is never part of a model request. Since `Patch.OneStepAdmission` the three checks are one local activity
 * (`admitUserMessage`: the same checks in the same order, the first refusal ending it); histories from before run
 * them as three (`frozen/admit-in-four-steps.ts`).
 *
 * Since `Patch.BookWithAdmission` the step also books the turn's first model call, at the same time as the limits:
 * admitted, the answer carries that reservation (`booked`) when every check of it passed, for the first call to use in
 * place of its own reservation; without it, the first call reserves (and decides) as before. Admitted or not, an
 * answer of false is a turn that ends here.
 */
export async function admitMessage(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<false | { booked?: FirstCallBooking }> {
  if (!isPatched(Patch.OneStepAdmission)) return (await admitInFourSteps(ids, session, turn, message)) && {};
  const db = steps();
  const admitted = await db.admitUserMessage({
    ...ids,
    ...('requestId' in message ? { requestId: message.requestId } : { claimedUserId: message.userId }),
    ...(isPatched(Patch.BookWithAdmission) ? { bookFirstCall: true } : {}),
  });
  // Refused by the verification: no author is known, nothing is stored.
  if (!admitted.ok && admitted.stage === 'verify') {
    session.refuse(turn, admitted.reason);
    return false;
  }
  turn.userId = admitted.userId;
  try {
    await db.recordUserMessage({ ...ids, userId: admitted.userId, text: admitted.text, ...(admitted.ok ? {} : { refused: true }) });
  } catch (err) {
    // The turn fails here: its first call's booking goes back now, not at the stale sweep.
    if (admitted.ok && admitted.booked) await db.releaseBudget({ orgId: ids.orgId, reservationId: admitted.booked.reservationId });
    throw err;
  }
  if (!admitted.ok) {
    session.refuse(turn, admitted.reason);
    return false;
  }
  return admitted.booked ? { booked: admitted.booked } : {};
}

/** The turn's first model call, reserved when its message was admitted. */
export interface FirstCallBooking {
  reservationId: string;
  amountMicros: number;
}
