/** The real Linux executor: reads this machine through the os module, /proc and statfs. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, statfs } from 'node:fs/promises';
import os from 'node:os';
import { CommandParams, PACKAGE_COMMAND_SECONDS, type ProcessList, type SystemInfo } from '../../common/protocol';
import { eventLogs, killProcess, listServices, listSoftware, manageService, metrics } from './linux-system';
import { networkDiscovery } from './network-discovery';
import { runScript } from './run-script';
import { ExecutorError, type Executor } from './types';

async function distro(): Promise<string | undefined> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

async function memAvailable(): Promise<number> {
  try {
    const text = await readFile('/proc/meminfo', 'utf8');
    const kb = /^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // fall through to the os module
  }
  return os.freemem();
}

export async function disks(): Promise<SystemInfo['disks']> {
  let mounts: string[] = ['/'];
  try {
    const text = await readFile('/proc/mounts', 'utf8');
    const real = text
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[0]?.startsWith('/dev/') && f[1])
      .map((f) => f[1]!.replace(/\\040/g, ' '));
    if (real.length) mounts = [...new Set(real)];
  } catch {
    // only the root file system then
  }
  const out: SystemInfo['disks'] = [];
  for (const mount of mounts.slice(0, 32)) {
    try {
      const s = await statfs(mount);
      out.push({ mount, totalBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize });
    } catch {
      // unreadable mount points are skipped
    }
  }
  return out;
}

export async function systemInfo(): Promise<SystemInfo> {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    os: { platform: os.platform(), release: os.release(), distro: await distro() },
    uptimeSeconds: Math.round(os.uptime()),
    cpu: { model: cpus[0]?.model ?? 'unknown', cores: cpus.length, loadAverage: os.loadavg() },
    memory: { totalBytes: os.totalmem(), availableBytes: await memAvailable() },
    disks: await disks(),
  };
}

const CLK_TCK = 100; // USER_HZ on every mainstream Linux build
const PAGE_SIZE = 4096;

interface ProcSample {
  pid: number;
  name: string;
  uid: number;
  cpuTicks: number;
  startTicks: number;
  rssPages: number;
  command: string;
}

async function readProc(pid: number): Promise<ProcSample | null> {
  try {
    const [stat, cmdline, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''),
    ]);
    // The name is in parentheses and may itself contain spaces or parentheses.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const name = stat.slice(open + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const startTicks = Number(fields[19]);
    const rssPages = Number(fields[21]);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const command = cmdline.replace(/\0+$/, '').replace(/\0/g, ' ') || `[${name}]`;
    return { pid, name, uid, cpuTicks: utime + stime, startTicks, rssPages, command };
  } catch {
    return null; // the process exited while we read it
  }
}

async function userNames(): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  try {
    for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
      const [name, , uid] = line.split(':');
      if (name && uid) names.set(Number(uid), name);
    }
  } catch {
    // numeric ids then
  }
  return names;
}

export async function listProcesses(raw: Record<string, unknown>): Promise<ProcessList> {
  const params = CommandParams.list_processes.parse(raw);
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  const samples = (await Promise.all(pids.map(readProc))).filter((p): p is ProcSample => p !== null);
  const uptime = os.uptime();
  const users = await userNames();
  // CPU% over the process's lifetime, as `ps` reports it.
  const processes = samples.map((p) => {
    const elapsed = Math.max(uptime - p.startTicks / CLK_TCK, 0.01);
    return {
      pid: p.pid,
      name: p.name.slice(0, 256),
      user: users.get(p.uid) ?? String(p.uid),
      cpuPercent: Math.round(((p.cpuTicks / CLK_TCK / elapsed) * 100) * 10) / 10,
      memoryBytes: p.rssPages * PAGE_SIZE,
      command: p.command.slice(0, 1024),
    };
  });
  processes.sort((a, b) => (params.sortBy === 'memory' ? b.memoryBytes - a.memoryBytes : b.cpuPercent - a.cpuPercent));
  return { total: processes.length, processes: processes.slice(0, params.limit) };
}

export interface LinuxExecutorOptions {
  /** Reboot and shutdown are refused unless the agent was started with --allow-power. */
  allowPower?: boolean;
  /** Installing updates and removing packages are refused unless started with --allow-packages. */
  allowPackages?: boolean;
  /** Lets discovery scan 127.0.0.0/8 (for tests on one machine); never set in production. */
  allowLoopbackDiscovery?: boolean;
  /** PATH for the scripts it runs. */
  scriptPath?: string;
}

const disabled = (what: string, flag: string) => new ExecutorError('DISABLED', `${what} is disabled on this agent (start it with ${flag})`);

function later(cmd: string, args: string[]): void {
  // Give the agent time to report the result before the machine goes down.
  setTimeout(() => spawn(cmd, args, { detached: true, stdio: 'ignore' }).unref(), 2000);
}

export function createLinuxExecutor(opts: LinuxExecutorOptions = {}): Executor {
  return {
    system_info: () => systemInfo(),
    list_processes: (params) => listProcesses(params),
    get_metrics: () => metrics(disks),
    list_services: (params) => listServices(params),
    manage_service: (params) => manageService(params),
    get_event_logs: (params) => eventLogs(params),
    list_software: (params) => listSoftware(params),
    kill_process: (params) => killProcess(params),
    run_script: (params, ctx) => runScript(params, { path: opts.scriptPath, output: ctx?.output, signal: ctx?.signal }),
    inventory: async () => ({ system: await systemInfo(), packages: (await listSoftware({}).catch(() => ({ total: 0 }))).total, collectedAt: new Date().toISOString() }),
    network_discovery: (params, ctx) => networkDiscovery(params, { allowLoopback: opts.allowLoopbackDiscovery, signal: ctx?.signal }),
    restart: async () => {
      if (!opts.allowPower) throw disabled('rebooting', '--allow-power');
      later('systemctl', ['reboot']);
      return { scheduled: true };
    },
    shutdown: async () => {
      if (!opts.allowPower) throw disabled('shutting down', '--allow-power');
      later('systemctl', ['poweroff']);
      return { scheduled: true };
    },
    // apt's own output is spooled like a script's: read back in full with get_command_result.
    install_updates: async (params, ctx) => {
      CommandParams.install_updates.parse(params);
      if (!opts.allowPackages) throw disabled('installing updates', '--allow-packages');
      const result = await runScript({ interpreter: 'bash', script: 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade', timeoutSeconds: PACKAGE_COMMAND_SECONDS.install_updates }, { output: ctx?.output, signal: ctx?.signal });
      if (result.exitCode !== 0) throw new ExecutorError('EXECUTION_FAILED', 'apt-get upgrade failed');
      return { installed: [], rebootRequired: existsSync('/var/run/reboot-required'), ...(result.fullOutput ? { fullOutput: result.fullOutput } : {}) };
    },
    uninstall_software: async (params, ctx) => {
      const p = CommandParams.uninstall_software.parse(params);
      if (!opts.allowPackages) throw disabled('removing software', '--allow-packages');
      if (!/^[a-z0-9][a-z0-9.+-]*$/.test(p.name)) throw new ExecutorError('INVALID_COMMAND', 'not a Debian package name');
      const result = await runScript({ interpreter: 'bash', script: `DEBIAN_FRONTEND=noninteractive apt-get -y -q remove -- '${p.name}'`, timeoutSeconds: PACKAGE_COMMAND_SECONDS.uninstall_software }, { output: ctx?.output, signal: ctx?.signal });
      return { name: p.name, removed: result.exitCode === 0, ...(result.fullOutput ? { fullOutput: result.fullOutput } : {}) };
    },
  };
}
