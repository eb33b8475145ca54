/**
 * The endpoint agent.
 *   npm run agent -- enroll --server <url> --key <enrollment key> [--name <name>] [--credentials <file>] [--allow-insecure-http]
 *   npm run agent [-- --credentials <file>] [--allow-power] [--allow-packages]
 *   npm run agent -- --simulate <n> [--org <slug>] [--key <enrollment key>] [--simulate-profile <file>] [--simulate-first <i>]   n simulated Windows-like endpoints
 *     (named from the i-th on, default 1: several processes share one fleet under distinct names)
 */
import { parseArgs } from 'node:util';
import { agentCredentialsPath, loadEnvOrExit } from '../lib/env';
import { createLogger } from '../lib/logger';
import { startTracing, type Tracing } from '../lib/tracing';
import { connectAgent } from './connection';
import { loadCredentials, saveCredentials } from './credentials';
import { enroll } from './enroll';
import { createLinuxExecutor } from './executors/linux';
import { runSimulation } from './simulate';
import { createLinuxPtyFactory } from './terminals/linux-pty';

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
      simulate: { type: 'string' },
      'simulate-profile': { type: 'string' },
      'simulate-first': { type: 'string' },
      org: { type: 'string', default: 'acme' },
      'api-key': { type: 'string' },
      'reboot-seconds': { type: 'string' },
      'allow-power': { type: 'boolean', default: false },
      'allow-packages': { type: 'boolean', default: false },
      'allow-loopback-discovery': { type: 'boolean', default: false },
      'allow-insecure-http': { type: 'boolean', default: false },
    },
  });
  const server = values.server ?? env.GATEHOUSE_SERVER_URL;
  // Spans of the commands it runs, children of the gateway's dispatch (off without an endpoint).
  const traced = () => startTracing({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'gatehouse-agent' });
  /** Exits once the spans still buffered are sent. */
  const exit = (tracing: Tracing | undefined) => void (tracing?.shutdown() ?? Promise.resolve()).catch(() => undefined).finally(() => process.exit(0));

  if (values.simulate !== undefined) {
    const count = Number(values.simulate);
    if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new Error('--simulate takes a number of devices between 1 and 10000');
    const first = Number(values['simulate-first'] ?? 1);
    if (!Number.isInteger(first) || first < 1 || first > 100_000) throw new Error('--simulate-first takes the number of the first device, between 1 and 100000');
    const tracing = await traced();
    const sim = await runSimulation({
      count,
      first,
      org: values.org!,
      server,
      key: values.key,
      apiKey: values['api-key'] ?? env.GATEHOUSE_API_KEY,
      dataDir: env.DATA_DIR,
      rebootSeconds: values['reboot-seconds'] ? Number(values['reboot-seconds']) : undefined,
      maxTerminals: env.TERMINAL_MAX_PER_DEVICE,
      profileFile: values['simulate-profile'],
      logger,
    });
    console.log(`running ${count} simulated endpoints for ${values.org}: ${sim.names.slice(0, 5).join(', ')}${count > 5 ? ', …' : ''}`);
    const stop = () => {
      sim.stop();
      exit(tracing);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return;
  }

  const file = values.credentials ?? agentCredentialsPath(env);
  const command = positionals[0] ?? 'run';
  if (command === 'enroll') {
    if (!values.key) throw new Error('enroll needs --key <enrollment key>');
    const creds = await enroll({ server, key: values.key, name: values.name, executor: 'linux', allowInsecureHttp: values['allow-insecure-http'] });
    await saveCredentials(file, creds);
    console.log(`enrolled as device ${creds.deviceId} (${creds.name}); credential saved to ${file}`);
    return;
  }
  if (command !== 'run') throw new Error(`unknown command "${command}"; use "enroll" or "run"`);

  const credentials = await loadCredentials(file);
  if (values.server) credentials.server = values.server;
  const tracing = await traced();
  const agent = connectAgent({
    credentials,
    journalFile: `${file}.journal.jsonl`,
    executor: createLinuxExecutor({ allowPower: values['allow-power'], allowPackages: values['allow-packages'], allowLoopbackDiscovery: values['allow-loopback-discovery'], scriptPath: env.PATH }),
    logger,
    onFatal: () => process.exit(2),
    terminals: { spawn: createLinuxPtyFactory({ shell: env.TERMINAL_SHELL, path: env.PATH }), max: env.TERMINAL_MAX_PER_DEVICE },
  });
  const stop = () => {
    agent.stop();
    exit(tracing);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
