/** The offline model process (used when no ANTHROPIC_API_KEY is set). */
import { loadEnvOrExit } from '../lib/env';
import { createLogger } from '../lib/logger';
import { startOfflineModel } from './server';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const logger = createLogger(env, 'offline-model');
  const { server, url } = await startOfflineModel(env.OFFLINE_MODEL_PORT);
  logger.info({ url }, 'offline model listening');
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error('offline-model: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
