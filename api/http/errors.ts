/** One error middleware: every error leaves as `{ "error": { "code", "message" } }`, never with internals. */
import type { NextFunction, Request, Response } from 'express';
import { AppError, AppErrorCode } from '../../lib/app-error';
import type { Logger } from '../../lib/logger';

export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError(AppErrorCode.NotFound, `no route for ${req.method} ${req.path}`));
}

const INVALID_UTF8 = 'body.invalid_utf8';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * For `express.json({ verify })`: a body that is not valid UTF-8 is refused. The JSON parser would otherwise replace
 * the bad bytes with U+FFFD and store a name or a script the sender never wrote.
 */
export function refuseInvalidUtf8(_req: unknown, _res: unknown, buf: Buffer): void {
  try {
    utf8.decode(buf);
  } catch {
    throw Object.assign(new Error('body is not valid UTF-8'), { type: INVALID_UTF8, status: 400 });
  }
}

function fromBodyParser(err: { type?: string; status?: number }): AppError | null {
  if (err.type === 'entity.parse.failed') return new AppError(AppErrorCode.BadRequest, 'body: not valid JSON');
  if (err.type === INVALID_UTF8) return new AppError(AppErrorCode.BadRequest, 'body: not valid UTF-8');
  if (err.type === 'entity.too.large') return new AppError(AppErrorCode.PayloadTooLarge, 'body: too large');
  if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported') {
    return new AppError(AppErrorCode.BadRequest, 'body: unsupported encoding');
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return new AppError(AppErrorCode.BadRequest, 'body: could not be read');
  }
  return null;
}

const CONNECTION = /ECONNREFUSED|ECONNRESET|Connection terminated|connect ETIMEDOUT|Can't reach database|DatabaseNotReachable|P1001|P1017|ConnectionClosed|SocketTimeout/i;
const errorText = (err: unknown) => `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? ''} ${JSON.stringify((err as { meta?: unknown })?.meta ?? {})}`;
const unavailable = (err: unknown) => new AppError(AppErrorCode.Unavailable, 'the database is unavailable; nothing was run, try again shortly', { cause: err });

/** A database that cannot be reached is a 503 the caller can retry, not an internal error. */
function databaseUnavailable(err: unknown): AppError | null {
  const text = errorText(err);
  return /Prisma|DriverAdapter/.test(text) && CONNECTION.test(text) ? unavailable(err) : null;
}

/**
 * For a statement sent through `pg` itself (not Prisma, whose errors the handler recognizes): a connection that fails
 * is the same 503; any other error is left as it is.
 */
export function fromPool(err: unknown): unknown {
  return CONNECTION.test(errorText(err)) ? unavailable(err) : err;
}

export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const known = err instanceof AppError ? err : (fromBodyParser(err as { type?: string }) ?? databaseUnavailable(err));
    if (known) {
      if (known.status >= 500) logger.error({ err: known.cause ?? known, path: req.path }, known.message);
      res.status(known.status).json({ error: { code: known.code, message: known.message, ...(known.details ? { details: known.details } : {}) } });
      return;
    }
    const ref = `err_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    logger.error({ err, ref, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).json({ error: { code: AppErrorCode.Internal, message: `internal error (reference ${ref})` } });
  };
}
