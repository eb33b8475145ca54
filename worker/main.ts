/** The worker process: runs the copilot workflows and every activity until SIGINT/SIGTERM. */
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { EnvError, loadEnvOrExit, metricsListenConfig } from '../lib/env';
import { createLogger } from '../lib/logger';
import { createWorkerMetrics, serveMetrics, type MetricsListener } from '../lib/metrics';
import { startTracing } from '../lib/tracing';
import { payloadCodecFromEnv, type EncryptionCodec } from '../lib/payload-codec';
import { createDatabase } from '../lib/prisma';
import { createRedis } from '../lib/redis';
import { activityDeps, createWorker } from './create-worker';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const logger = createLogger(env, 'worker');
  // Temporal's own logs (worker, workflow and activity loggers) go to the same structured sink.
  const temporalLog = logger.child({ component: 'temporal' });
  Runtime.install({
    logger: new DefaultLogger((env.LOG_LEVEL === 'debug' ? 'DEBUG' : 'INFO') as LogLevel, (entry) => {
      const level = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : entry.level === 'INFO' ? 'info' : 'debug';
      temporalLog[level]({ ...entry.meta }, entry.message);
    }),
  });

  let payloadCodec: EncryptionCodec;
  let metricsAt: ReturnType<typeof metricsListenConfig>;
  try {
    payloadCodec = payloadCodecFromEnv(env);
    metricsAt = metricsListenConfig(env, 'worker');
  } catch (err) {
    if (!(err instanceof EnvError)) throw err;
    logger.fatal(err.message);
    process.exit(1);
  }
  const db = createDatabase(env.DATABASE_URL);
  const redis = createRedis(env.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis unavailable; rate limits and budgets deny until it is back'));
  redis.connect().catch(() => undefined);
  const tracing = await startTracing({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'gatehouse-worker' });
  const metrics = createWorkerMetrics({ defaults: true });
  const metricsListener: MetricsListener = await serveMetrics(metrics.registry, metricsAt);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await createWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deps: activityDeps(env, db, redis, logger, metrics),
    payloadCodec,
    tracing,
  });
  logger.info({ taskQueue: env.TEMPORAL_TASK_QUEUE, temporal: env.TEMPORAL_ADDRESS, payloadKeyId: payloadCodec.keyId, metrics: metricsListener.url, traces: env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'off' }, 'worker started');
  await worker.run(); // returns after SIGINT/SIGTERM, once in-flight tasks are done
  await connection.close();
  await metricsListener.close();
  await tracing?.shutdown().catch(() => undefined);
  await db.prisma.$disconnect();
  redis.disconnect();
}

main().catch((err: unknown) => {
  console.error('worker: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
