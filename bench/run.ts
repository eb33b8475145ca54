/** `npm run bench -- <name> [--n N] [--agents 1000,5000]`: runs one benchmark; each prints JSON lines, the last one a summary. */
import { parseArgs } from 'node:util';
import { runApprovalBench } from './approval';
import { runAskBench } from './ask';
import { runDetectorBench } from './detector';
import { runGuardsBench } from './guards';
import { runApprovalChannelsBench } from './approval-channels';
import { runReplayBench } from './replay';
import { runFanoutBench } from './fanout';
import { runAgentMemoryBench } from './agent-memory';
import { runInvariantsBench } from './invariants';
import { runTerminalBench } from './terminal';
import { runMcpBench } from './mcp';
import { runWhatIfBench } from './what-if';

interface BenchOptions {
  /** agent-memory: the counts of connected agents to measure at, e.g. "1000,5000". */
  agents?: string;
  /** detector: the benign data set (a data.jsonl of {"text": …} rows). */
  data?: string;
  /** invariants: how many randomized runs, or for how many minutes, and the fast-check seed that draws them. */
  runs?: string;
  minutes?: string;
  seed?: string;
}

const BENCHES: Record<string, (n: number, opts: BenchOptions) => Promise<void>> = {
  approval: runApprovalBench,
  ask: runAskBench,
  'approval-channels': runApprovalChannelsBench,
  guards: runGuardsBench,
  detector: (_n, opts) => runDetectorBench({ data: opts.data }),
  replay: runReplayBench,
  fanout: runFanoutBench,
  mcp: runMcpBench,
  'what-if': (n) => runWhatIfBench(n === 200 ? 1000 : n),
  'agent-memory': (_n, opts) => runAgentMemoryBench(opts),
  terminal: (n) => runTerminalBench(n === 200 ? 300 : n),
  invariants: (_n, opts) => runInvariantsBench({ runs: opts.runs ? Number(opts.runs) : undefined, minutes: opts.minutes ? Number(opts.minutes) : undefined, seed: opts.seed ? Number(opts.seed) : undefined }),
};

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { n: { type: 'string' }, agents: { type: 'string' }, data: { type: 'string' }, runs: { type: 'string' }, minutes: { type: 'string' }, seed: { type: 'string' } } });
  const name = positionals[0];
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) throw new Error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--n N] [--agents 1000,5000] [--data file] [--runs N] [--minutes M] [--seed S]`);
  await bench(values.n ? Number(values.n) : 200, { agents: values.agents, data: values.data, runs: values.runs, minutes: values.minutes, seed: values.seed });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
