/**
 * A turn's message admitted in one step (`Patch.OneStepAdmission`): the api's record verified (session, rights,
 * first use), the text screened for injected instructions, and the per-user and per-org message limits checked, in
 * that order and each by the same code as when they were three activities (./workflow-requests.ts,
 * ./screen-user-message.ts, ./guards.ts), each failing closed with its audit event. The first that refuses ends the
 * step and says which it was; nothing after it runs, as before. Run in one local activity instead of three: two
 * round trips fewer through the workflow before the message is stored.
 *
 * A retry runs the step again: the verification finds its own claim (the request is claimed for this turn), the
 * screen is a pure function of the text, and the limits are checked last and never throw (a store that fails is a
 * refusal, ./guards.ts), so a limit is never counted by an attempt that then fails.
 *
 * Asked to (`bookFirstCall`, `Patch.BookWithAdmission`), it books the turn's first model call at the same time as the
 * limits (./guards.ts makeBookFirstCall: the reservation's own checks, the message sized from its text): the two
 * stores answer at once instead of one after the other. Both finish before the step answers. The limits decide the
 * admission as before; when they refuse, the booking is given back before the answer. A booking that did not pass
 * holds nothing and the first call's own reservation decides (and refuses, audited) as before.
 */
import type { ActivityDeps } from './deps';
import { makeBookFirstCall, makeCheckRateLimits, releaseBooking, type Booking } from './guards';
import { makeScreenUserMessage } from './screen-user-message';
import { makeVerifyMessageRequest } from './workflow-requests';

export type AdmissionStage = 'verify' | 'screen' | 'rate_limit';

export type Admission =
  /** `booked`: the first model call's reservation, when asked for and every check of it passed. */
  | { ok: true; userId: string; text: string; booked?: Booking }
  /** Refused by the verification: no author is known, nothing is stored. */
  | { ok: false; stage: 'verify'; reason: string }
  /** Refused by the screen or a limit: the message is stored as refused, under its verified author. */
  | { ok: false; stage: 'screen' | 'rate_limit'; reason: string; userId: string; text: string };

export function makeAdmitUserMessage(deps: ActivityDeps) {
  const verify = makeVerifyMessageRequest(deps);
  const screen = makeScreenUserMessage(deps);
  const checkRateLimits = makeCheckRateLimits(deps);
  const bookFirstCall = makeBookFirstCall(deps);
  return async function admitUserMessage(input: {
    sessionId: string;
    orgId: string;
    turnId: string;
    requestId?: string;
    claimedUserId?: string;
    bookFirstCall?: boolean;
  }): Promise<Admission> {
    const verified = await verify(input);
    if (!verified.ok) return { ok: false, stage: 'verify', reason: verified.reason };
    const { userId, text } = verified;
    const screened = await screen({ sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, userId, text });
    if (!screened.ok) return { ok: false, stage: 'screen', reason: screened.reason, userId, text };
    const limits = { orgId: input.orgId, userId, sessionId: input.sessionId };
    if (!input.bookFirstCall) {
      const limited = await checkRateLimits(limits);
      if (!limited.ok) return { ok: false, stage: 'rate_limit', reason: limited.reason, userId, text };
      return { ok: true, userId, text };
    }
    // Neither throws: both answers are in before anything is decided.
    const [limited, booked] = await Promise.all([checkRateLimits(limits), bookFirstCall({ sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, text })]);
    if (!limited.ok) {
      if (booked) await releaseBooking(deps, input.orgId, booked.reservationId);
      return { ok: false, stage: 'rate_limit', reason: limited.reason, userId, text };
    }
    return booked ? { ok: true, userId, text, booked } : { ok: true, userId, text };
  };
}
