/**
 * Failure types shared by activities and workflows. Activities throw non-retryable `ApplicationFailure`s with one
 * of these types for problems a retry cannot fix; transient faults are plain errors and retry within a bound.
 */
export const FailureType = {
  /** Input that does not parse: a retry would fail the same way. */
  InvalidInput: 'GatehouseInvalidInput',
  /** A row the activity needs does not exist (or is outside the tenant). */
  NotFound: 'GatehouseNotFound',
  /** The model API refused the request (bad request, auth): not worth retrying. */
  ModelRejected: 'GatehouseModelRejected',
  /** A command no authorized (and, for T3/T4, approved) tool call asked for: it is never created or sent. */
  Unauthorized: 'GatehouseUnauthorized',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export const NON_RETRYABLE_FAILURES: string[] = Object.values(FailureType);
