/**
 * Error sanitization by allowlist: known error codes map to fixed, safe texts; anything else becomes a generic
 * message with a reference id. Raw errors (stack traces, paths, SQL, connection strings, internal host names) go
 * to the server log and the audit event only, never to the model or an API client.
 */
export const SAFE_ERRORS = {
  DEVICE_OFFLINE: 'device offline',
  TIMEOUT: 'timed out',
  SERVICE_NOT_FOUND: 'service not found',
  NOT_FOUND: 'not found',
  UNSUPPORTED: 'this device cannot run this command',
  DISABLED: 'this action is disabled on the device by its agent settings',
  EXECUTION_FAILED: 'the command failed on the device',
  INVALID_COMMAND: 'the device refused the command as invalid',
  PAUSED: 'not run: an admin paused the copilot for this organization',
  CANCELLED: 'not run: cancelled by a person before it reached the device',
  REENROLLED: 'not run: the device was enrolled again while it was away, and commands queued for its old enrollment ended',
  APPROVAL_MISSING: 'the device refused the command: it needs a human approval and carried none',
  PERMISSION_DENIED: 'permission denied',
  RATE_LIMITED: 'rate limited; try again later',
  BUDGET_EXHAUSTED: 'budget exhausted',
  SERVICE_UNAVAILABLE: 'a service the copilot needs is unavailable; nothing was run',
} as const;
export type SafeErrorCode = keyof typeof SAFE_ERRORS;

export interface SanitizedError {
  code: SafeErrorCode | 'INTERNAL';
  message: string;
  /** For the operator: find the raw error in the log by this reference. */
  ref: string;
}

export function isSafeCode(code: unknown): code is SafeErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(SAFE_ERRORS, code);
}

/** `ref` must be unguessable and unique (the caller makes it); the raw error is the caller's to log. */
export function sanitizeError(err: unknown, ref: string): SanitizedError {
  const code = (err as { code?: unknown } | null)?.code;
  if (isSafeCode(code)) return { code, message: SAFE_ERRORS[code], ref };
  return { code: 'INTERNAL', message: `an internal error occurred (reference ${ref})`, ref };
}
