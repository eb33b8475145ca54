/** `npm run bench -- <name> [--n N]`: runs one benchmark; each prints JSON lines, the last one a summary. */
import { parseArgs } from 'node:util';
import { runApprovalBench } from './approval';
import { runDetectorBench } from './detector';
import { runGuardsBench } from './guards';
import { runApprovalChannelsBench } from './approval-channels';
import { runReplayBench } from './replay';
import { runFanoutBench } from './fanout';

const BENCHES: Record<string, (n: number) => Promise<void>> = {
  approval: runApprovalBench,
  'approval-channels': runApprovalChannelsBench,
  guards: runGuardsBench,
  detector: () => runDetectorBench(),
  replay: runReplayBench,
  fanout: runFanoutBench,
};

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { n: { type: 'string' } } });
  const name = positionals[0];
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) throw new Error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--n N]`);
  await bench(values.n ? Number(values.n) : 200);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
