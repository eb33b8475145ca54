/** The api process: REST, approval pages, Socket.IO gateway for agents and consoles. */
import { guardConfig, loadEnvOrExit } from '../lib/env';
import { RateLimiter } from '../lib/rate-limiter';
import { createLogger } from '../lib/logger';
import { createPrisma } from '../lib/prisma';
import { createRedis } from '../lib/redis';
import { createTemporalClient } from '../lib/temporal';
import { createApiServer } from './server';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const logger = createLogger(env, 'api');
  const prisma = createPrisma(env.DATABASE_URL);
  const redis = createRedis(env.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis unavailable'));
  redis.connect().catch(() => undefined); // health reports it; checks that need Redis fail closed
  const temporal = createTemporalClient(env);
  const api = await createApiServer({
    prisma,
    redis,
    limiter: new RateLimiter(redis),
    temporal,
    logger,
    config: {
      databaseUrl: env.DATABASE_URL,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      temporalNamespace: env.TEMPORAL_NAMESPACE,
      temporalUiUrl: env.TEMPORAL_UI_URL,
      sweepIntervalMs: 2000,
      commandTimeoutSeconds: env.COMMAND_TIMEOUT_SECONDS,
      guards: guardConfig(env),
      bodyLimitBytes: 256 * 1024,
    },
  });
  const url = await api.listen(env.PORT, env.HOST);
  logger.info({ url }, 'api listening');

  const stop = async () => {
    logger.info('api stopping');
    await api.close();
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
