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
 */
import type { ActivityDeps } from './deps';
import { makeCheckRateLimits } from './guards';
import { makeScreenUserMessage } from './screen-user-message';
import { makeVerifyMessageRequest } from './workflow-requests';

export type AdmissionStage = 'verify' | 'screen' | 'rate_limit';

export type Admission =
  | { ok: true; userId: string; text: string }
  /** Refused by the verification: no author is known, nothing is stored. */
  | { ok: false; stage: 'verify'; reason: string }
  /** Refused by the screen or a limit: the message is stored as refused, under its verified author. */
  | { ok: false; stage: 'screen' | 'rate_limit'; reason: string; userId: string; text: string };

export function makeAdmitUserMessage(deps: ActivityDeps) {
  const verify = makeVerifyMessageRequest(deps);
  const screen = makeScreenUserMessage(deps);
  const checkRateLimits = makeCheckRateLimits(deps);
  return async function admitUserMessage(input: { sessionId: string; orgId: string; turnId: string; requestId?: string; claimedUserId?: string }): Promise<Admission> {
    const verified = await verify(input);
    if (!verified.ok) return { ok: false, stage: 'verify', reason: verified.reason };
    const { userId, text } = verified;
    const screened = await screen({ sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, userId, text });
    if (!screened.ok) return { ok: false, stage: 'screen', reason: screened.reason, userId, text };
    const limited = await checkRateLimits({ orgId: input.orgId, userId, sessionId: input.sessionId });
    if (!limited.ok) return { ok: false, stage: 'rate_limit', reason: limited.reason, userId, text };
    return { ok: true, userId, text };
  };
}
