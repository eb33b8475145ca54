/**
 * The endpoint agent.
 *   npm run agent -- enroll --server <url> --key <enrollment key> [--name <name>] [--credentials <file>]
 *   npm run agent [-- --credentials <file>]
 */
import { parseArgs } from 'node:util';
import { agentCredentialsPath, loadEnvOrExit } from '../lib/env';
import { createLogger } from '../lib/logger';
import { connectAgent } from './connection';
import { loadCredentials, saveCredentials } from './credentials';
import { enroll } from './enroll';
import { linuxExecutor } from './executors/linux';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const logger = createLogger(env, 'agent');
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      key: { type: 'string' },
      name: { type: 'string' },
      credentials: { type: 'string' },
    },
  });
  const file = values.credentials ?? agentCredentialsPath(env);
  const command = positionals[0] ?? 'run';

  if (command === 'enroll') {
    if (!values.key) throw new Error('enroll needs --key <enrollment key>');
    const creds = await enroll({ server: values.server ?? env.GATEHOUSE_SERVER_URL, key: values.key, name: values.name, executor: 'linux' });
    await saveCredentials(file, creds);
    console.log(`enrolled as device ${creds.deviceId} (${creds.name}); credential saved to ${file}`);
    return;
  }
  if (command !== 'run') throw new Error(`unknown command "${command}"; use "enroll" or "run"`);

  const credentials = await loadCredentials(file);
  if (values.server) credentials.server = values.server;
  const agent = connectAgent({
    credentials,
    executor: linuxExecutor,
    logger,
    onFatal: () => process.exit(2),
  });
  const stop = () => {
    agent.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
