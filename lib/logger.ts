/** Structured logs (pino). Secrets are redacted by path; callers never log raw command output. */
import pino, { type Logger } from 'pino';
import type { Env } from './env';

export type { Logger };

export function createLogger(env: Pick<Env, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: env.LOG_LEVEL,
    redact: {
      paths: [
        'apiKey',
        'secret',
        'key',
        'token',
        'taskToken',
        'clientSecret',
        '*.clientSecret',
        'authorization',
        '*.apiKey',
        '*.secret',
        '*.key',
        '*.token',
        '*.authorization',
        'req.headers.authorization',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
    },
  });
}
