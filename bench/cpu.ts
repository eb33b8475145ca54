/**
 * CPU time spent by every process on this machine between two snapshots (Linux /proc), grouped by what the
 * process is: where a benchmark's work went, and whether something else was busy at the same time ("other").
 */
import { readdirSync, readFileSync } from 'node:fs';

const ROLES: [string, RegExp][] = [
  ['temporal', /temporal server/],
  ['worker', /worker\/main\.ts/],
  ['agents', /agent\/main\.ts/],
  ['postgres', /^postgres/],
  ['redis', /^redis-server/],
];
const TICK_MS = 10; // USER_HZ is 100 on Linux

export type CpuSnapshot = Map<number, { role: string; ms: number }>;

/** CPU milliseconds (user + system) one process has used so far; undefined once it is gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** `named`: roles of given processes (a benchmark's own api process), before the command-line patterns. */
export function cpuSnapshot(named: Record<number, string> = {}): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const role = named[pid] ?? (pid === process.pid ? 'this process' : (ROLES.find(([, re]) => re.test(cmdline))?.[0] ?? 'other'));
      snapshot.set(pid, { role, ms });
    } catch {
      // the process ended between the listing and the read
    }
  }
  return snapshot;
}

/** Milliseconds of CPU per unit of work, by role, between two snapshots (processes that started in between count whole). */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number): Record<string, number> {
  const byRole: Record<string, number> = {};
  let total = 0;
  for (const [pid, { role, ms }] of after) {
    const spent = ms - (before.get(pid)?.ms ?? 0);
    byRole[role] = (byRole[role] ?? 0) + spent;
    total += spent;
  }
  const round = (ms: number) => Math.round((ms / units) * 100) / 100;
  return Object.fromEntries([['total', round(total)], ...Object.entries(byRole).filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]).map(([role, ms]) => [role, round(ms)])]);
}
