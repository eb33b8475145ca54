import { AppError, AppErrorCode } from '../../lib/app-error';

/** Anything Temporal throws at the api that is not a domain answer: say it plainly, log the rest. */
export function temporalUnavailable(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError(AppErrorCode.Unavailable, 'the workflow service (Temporal) is unavailable; nothing was run, try again shortly', { cause: err });
}
