/** The api process: REST, approval pages, Socket.IO gateway for agents and consoles. */
import crypto from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSigningKeyPem, loadSigningKey, type SigningKey } from '../cage/command-signing';
import { EnvError, guardConfig, loadEnvOrExit, metricsListenConfig, slackConfig, type Env } from '../lib/env';
import { upstreamRules } from '../lib/mcp-upstream';
import { RateLimiter } from '../lib/rate-limiter';
import { createLogger, type Logger } from '../lib/logger';
import { createApiMetrics, serveMetrics } from '../lib/metrics';
import { startTracing } from '../lib/tracing';
import { payloadCodecFromEnv, type EncryptionCodec } from '../lib/payload-codec';
import { createDatabase } from '../lib/prisma';
import { createRedis } from '../lib/redis';
import { createTemporalClient } from '../lib/temporal';
import { createApiServer } from './server';
import { terminalConfig } from './deps';

/** COMMAND_SIGNING_KEY, or (outside production) the key in DATA_DIR, made on first start. */
function commandSigningKey(env: Env, logger: Logger): SigningKey {
  if (env.COMMAND_SIGNING_KEY) return loadSigningKey(env.COMMAND_SIGNING_KEY.replace(/\\n/g, '\n'));
  if (env.NODE_ENV === 'production') {
    logger.fatal('COMMAND_SIGNING_KEY is not set: it signs every command sent to agents');
    process.exit(1);
  }
  const file = path.join(env.DATA_DIR, 'command-signing-key.pem');
  if (!existsSync(file)) {
    mkdirSync(env.DATA_DIR, { recursive: true });
    writeFileSync(file, generateSigningKeyPem(), { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'made a command signing key');
  }
  return loadSigningKey(readFileSync(file, 'utf8'));
}

/** WEB_SECRET, or (outside production) a random one for this process: forms then do not survive a restart. */
function webSecret(env: Env, logger: Logger): string {
  if (env.WEB_SECRET) return env.WEB_SECRET;
  if (env.NODE_ENV === 'production') {
    logger.fatal('WEB_SECRET is not set: it signs the web pages\' CSRF tokens and must be the same on every api node');
    process.exit(1);
  }
  logger.warn('WEB_SECRET is not set: using a random one for this process (open approval pages stop working on restart, and across api nodes)');
  return crypto.randomBytes(32).toString('hex');
}

/** PAYLOAD_KEYS, or (outside production) the keys in DATA_DIR, made on first start. */
function payloadCodec(env: Env, logger: Logger): EncryptionCodec {
  try {
    return payloadCodecFromEnv(env);
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    logger.fatal(err.message);
    process.exit(1);
  }
}

/** Where /metrics listens: loopback, or behind METRICS_TOKEN (anything else stops the api). */
function metricsAddress(env: Env, logger: Logger): ReturnType<typeof metricsListenConfig> {
  try {
    return metricsListenConfig(env, 'api');
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    logger.fatal(err.message);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const logger = createLogger(env, 'api');
  // Before the clients are made, so their requests are traced from the first one.
  const tracing = await startTracing({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'gatehouse-api' });
  const metrics = createApiMetrics({ defaults: true });
  const metricsListener = await serveMetrics(metrics.registry, metricsAddress(env, logger));
  const { prisma, pool } = createDatabase(env.DATABASE_URL);
  const redis = createRedis(env.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis unavailable'));
  redis.connect().catch(() => undefined); // health reports it; checks that need Redis fail closed
  const codec = payloadCodec(env, logger);
  const temporal = createTemporalClient(env, codec);
  const api = await createApiServer({
    prisma,
    pool,
    redis,
    limiter: new RateLimiter(redis, env.RATE_KEY_PREFIX),
    temporal,
    payloadCodec: codec,
    logger,
    metrics,
    config: {
      databaseUrl: env.DATABASE_URL,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      temporalNamespace: env.TEMPORAL_NAMESPACE,
      temporalUiUrl: env.TEMPORAL_UI_URL,
      sweepIntervalMs: 2000,
      commandTimeoutSeconds: env.COMMAND_TIMEOUT_SECONDS,
      guards: guardConfig(env),
      bodyLimitBytes: 256 * 1024,
      httpKeepAliveSeconds: env.HTTP_KEEP_ALIVE_SECONDS,
      socketIoStream: env.SOCKET_IO_STREAM,
      partnerId: env.PARTNER_ID,
      webSecret: webSecret(env, logger),
      commandSigningKey: commandSigningKey(env, logger),
      terminals: terminalConfig(env),
      publicUrl: env.PUBLIC_URL,
      mcpUpstream: upstreamRules(env),
      mail: env.SMTP_URL ? { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM } : undefined,
      slack: slackConfig(env),
      checkResponses: env.NODE_ENV !== 'production',
    },
  });
  const url = await api.listen(env.PORT, env.HOST);
  logger.info({ url, metrics: metricsListener.url, traces: env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'off' }, 'api listening');

  const stop = async () => {
    logger.info('api stopping');
    await api.close();
    await metricsListener.close();
    await tracing?.shutdown().catch(() => undefined);
    await prisma.$disconnect();
    redis.disconnect();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error('api: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
