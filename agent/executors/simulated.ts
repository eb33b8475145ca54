/**
 * A simulated Windows-like endpoint for demos, tests and benchmarks: services, processes, event logs, installed
 * software, pending updates and reboots with a realistic offline period. State lives in memory per device and
 * changes the way a real machine's would (stopping the Spooler removes spoolsv.exe and logs event 7036, …).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CommandParams } from '../../common/protocol';
import { hostsOf } from './network-discovery';
import { isCriticalProcess } from '../../common/default-policy';
import { ExecutorError, type Executor } from './types';

interface Service {
  name: string;
  displayName: string;
  status: 'Running' | 'Stopped';
  startType: 'Automatic' | 'Manual' | 'Disabled';
  process?: string;
}

const SERVICES: Service[] = [
  { name: 'Spooler', displayName: 'Print Spooler', status: 'Running', startType: 'Automatic', process: 'spoolsv.exe' },
  { name: 'wuauserv', displayName: 'Windows Update', status: 'Stopped', startType: 'Manual' },
  { name: 'W32Time', displayName: 'Windows Time', status: 'Running', startType: 'Automatic' },
  { name: 'Dnscache', displayName: 'DNS Client', status: 'Running', startType: 'Automatic' },
  { name: 'BITS', displayName: 'Background Intelligent Transfer Service', status: 'Stopped', startType: 'Manual' },
  { name: 'WinRM', displayName: 'Windows Remote Management (WS-Management)', status: 'Running', startType: 'Automatic' },
  { name: 'LanmanServer', displayName: 'Server', status: 'Running', startType: 'Automatic' },
  { name: 'MpsSvc', displayName: 'Windows Defender Firewall', status: 'Running', startType: 'Automatic' },
  { name: 'WinDefend', displayName: 'Microsoft Defender Antivirus Service', status: 'Running', startType: 'Automatic', process: 'MsMpEng.exe' },
];

const BASE_PROCESSES = ['System', 'smss.exe', 'csrss.exe', 'wininit.exe', 'services.exe', 'lsass.exe', 'svchost.exe', 'svchost.exe', 'svchost.exe', 'explorer.exe', 'OUTLOOK.EXE', 'chrome.exe', 'Teams.exe'];

const SOFTWARE = [
  { name: 'Google Chrome', version: '131.0.6778.86', publisher: 'Google LLC' },
  { name: 'Microsoft 365 Apps for business', version: '16.0.18129.20158', publisher: 'Microsoft Corporation' },
  { name: '7-Zip 24.08 (x64)', version: '24.08', publisher: 'Igor Pavlov' },
  { name: 'Adobe Acrobat Reader', version: '24.004.20272', publisher: 'Adobe' },
  { name: 'Zoom Workplace', version: '6.2.10', publisher: 'Zoom Communications, Inc.' },
];

interface LogEntry {
  time: string;
  level: 'error' | 'warning' | 'info';
  source: string;
  id: number;
  message: string;
}

/**
 * How one simulated machine differs from the others (`--simulate-profile <file>`): a service that fails to start
 * (it enters the running state, then crashes at once, as a service with a broken dependency or configuration does:
 * the start itself reports success, and only a read of its state afterwards shows it stopped).
 */
export const SimulatedDeviceProfile = z.object({ servicesFailingToStart: z.array(z.string().min(1).max(256)).max(50).default([]) }).strict();
export type SimulatedDeviceProfile = z.infer<typeof SimulatedDeviceProfile>;
/** The profile file: per device name (or a pattern with `*`, such as `*-PC-07`), what differs. */
export const SimulatedProfile = z.object({ devices: z.record(z.string().min(1).max(200), SimulatedDeviceProfile) }).strict();
export type SimulatedProfile = z.infer<typeof SimulatedProfile>;

export class SimulatedMachine {
  readonly services: Service[];
  readonly software = SOFTWARE.map((s) => ({ ...s }));
  readonly log: LogEntry[] = [];
  pendingUpdates = [
    { id: 'KB5046617', title: '2024-11 Cumulative Update for Windows 11 Version 23H2 (security)', security: true },
    { id: 'KB5045935', title: '2024-11 .NET Framework Update', security: false },
  ];
  bootTime = Date.now() - 3 * 86_400_000;
  private readonly seed: number;
  private readonly pids = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly profile: SimulatedDeviceProfile = { servicesFailingToStart: [] },
  ) {
    this.seed = crypto.createHash('sha256').update(name).digest().readUInt32BE(0);
    this.services = SERVICES.map((s) => ({ ...s }));
    // One machine in five has a stuck print spooler: something for the copilot to fix.
    if (this.seed % 5 === 0) this.setStatus('Spooler', 'Stopped', 'error');
    this.record('info', 'EventLog', 6005, 'The Event log service was started.');
  }

  record(level: LogEntry['level'], source: string, id: number, message: string): void {
    this.log.push({ time: new Date().toISOString(), level, source, id, message });
    if (this.log.length > 500) this.log.shift();
  }

  service(name: string): Service {
    const svc = this.services.find((s) => s.name.toLowerCase() === name.toLowerCase());
    if (!svc) throw new ExecutorError('NOT_FOUND', `service ${name} not found`);
    return svc;
  }

  setStatus(name: string, status: Service['status'], level: LogEntry['level'] = 'info'): void {
    const svc = this.service(name);
    svc.status = status;
    this.record(level, 'Service Control Manager', 7036, `The ${svc.displayName} service entered the ${status === 'Running' ? 'running' : 'stopped'} state.`);
  }

  /** Whether this machine's profile makes the service crash whenever it starts. */
  failsToStart(name: string): boolean {
    return this.profile.servicesFailingToStart.some((s) => s.toLowerCase() === name.toLowerCase());
  }

  processes() {
    const names = [...BASE_PROCESSES, ...this.services.filter((s) => s.status === 'Running' && s.process).map((s) => s.process!)];
    return names.map((name, i) => {
      const key = `${name}#${i}`;
      if (!this.pids.has(key)) this.pids.set(key, 400 + ((this.seed + i * 7919) % 9000));
      const cpu = ((this.seed >> (i % 16)) % 50) / 10;
      return { pid: this.pids.get(key)!, name, user: i < 7 ? 'SYSTEM' : 'user', cpuPercent: cpu, memoryBytes: (20 + ((this.seed + i) % 300)) * 1024 * 1024, command: `C:\\Windows\\System32\\${name}` };
    });
  }

  reboot(): void {
    this.bootTime = Date.now();
    this.record('info', 'EventLog', 6006, 'The Event log service was stopped.');
    for (const s of this.services) s.status = s.startType === 'Automatic' ? 'Running' : 'Stopped';
    this.record('info', 'EventLog', 6005, 'The Event log service was started.');
  }
}

export interface SimulatedOptions {
  /** Called when the machine goes down for a reboot: the agent disconnects and comes back after `seconds`. */
  onReboot?(seconds: number): void;
  rebootSeconds?: number;
}

export function createSimulatedExecutor(m: SimulatedMachine, opts: SimulatedOptions = {}): Executor {
  const rebootSeconds = opts.rebootSeconds ?? 20;
  return {
    system_info: async () => ({
      hostname: m.name,
      os: { platform: 'win32', release: '10.0.22631', distro: 'Windows 11 Pro 23H2' },
      uptimeSeconds: Math.round((Date.now() - m.bootTime) / 1000),
      cpu: { model: 'Intel(R) Core(TM) i5-1245U', cores: 10, loadAverage: [] },
      memory: { totalBytes: 16 * 1024 ** 3, availableBytes: (6 + (m.name.length % 5)) * 1024 ** 3 },
      disks: [{ mount: 'C:', totalBytes: 512 * 1024 ** 3, availableBytes: 201 * 1024 ** 3 }],
    }),
    list_processes: async (params) => {
      const p = CommandParams.list_processes.parse(params);
      const all = m.processes().sort((a, b) => (p.sortBy === 'memory' ? b.memoryBytes - a.memoryBytes : b.cpuPercent - a.cpuPercent));
      return { total: all.length, processes: all.slice(0, p.limit) };
    },
    get_metrics: async () => ({ cpuPercent: 12.5, memoryUsedPercent: 58.3, loadAverage: [], disks: [{ mount: 'C:', usedPercent: 60.7 }] }),
    list_services: async (params) => {
      const p = CommandParams.list_services.parse(params);
      const services = m.services.filter((s) => !p.filter || s.name.toLowerCase().includes(p.filter.toLowerCase()) || s.displayName.toLowerCase().includes(p.filter.toLowerCase()));
      return { total: services.length, services: services.map(({ name, displayName, status, startType }) => ({ name, displayName, status, startType })) };
    },
    manage_service: async (params) => {
      const p = CommandParams.manage_service.parse(params);
      const svc = m.service(p.service);
      const previousStatus = svc.status;
      if (p.action === 'start' || p.action === 'restart') {
        if (p.action === 'restart' && svc.status === 'Running') m.setStatus(svc.name, 'Stopped');
        m.setStatus(svc.name, 'Running');
        // It started, as far as the start could tell; it stops right after the result is sent, before any next command.
        if (m.failsToStart(svc.name)) {
          setImmediate(() => {
            m.setStatus(svc.name, 'Stopped', 'error');
            m.record('error', 'Service Control Manager', 7034, `The ${svc.displayName} service terminated unexpectedly.`);
          });
        }
      } else if (p.action === 'stop') m.setStatus(svc.name, 'Stopped');
      return { service: svc.name, action: p.action, status: svc.status, previousStatus };
    },
    get_event_logs: async (params) => {
      const p = CommandParams.get_event_logs.parse(params);
      const since = Date.now() - p.sinceHours * 3600_000;
      const entries = m.log.filter((e) => Date.parse(e.time) >= since && (!p.level || e.level === p.level)).slice(-p.limit).reverse();
      return { log: p.log, entries };
    },
    list_software: async (params) => {
      const p = CommandParams.list_software.parse(params);
      const packages = m.software.filter((s) => !p.filter || s.name.toLowerCase().includes(p.filter.toLowerCase()));
      return { total: packages.length, packages };
    },
    kill_process: async (params) => {
      const p = CommandParams.kill_process.parse(params);
      const proc = m.processes().find((x) => x.pid === p.pid);
      if (!proc) return { pid: p.pid, name: p.name ?? '', killed: false };
      if (p.name && p.name !== proc.name) throw new ExecutorError('INVALID_COMMAND', `pid ${p.pid} is ${proc.name}, not ${p.name}`);
      if (!p.name && isCriticalProcess(proc.name)) throw new ExecutorError('INVALID_COMMAND', `pid ${p.pid} is ${proc.name}, a critical process: the call must name it`);
      m.record('warning', 'Application', 1000, `${proc.name} (pid ${p.pid}) was terminated.`);
      return { pid: p.pid, name: proc.name, killed: true };
    },
    run_script: async (params) => {
      const p = CommandParams.run_script.parse(params);
      const failed = /\bexit\s+[1-9]/.test(p.script);
      // A script that sleeps takes that long here too (capped at a minute), so long-running commands can be simulated.
      const sleep = Math.min(60, Number(/\bStart-Sleep\s+(?:-Seconds\s+)?(\d{1,2})\b/i.exec(p.script)?.[1] ?? /\bsleep\s+(\d{1,2})\b/.exec(p.script)?.[1] ?? 0));
      if (sleep) await new Promise((r) => setTimeout(r, sleep * 1000));
      m.record('info', 'PowerShell', 4104, `Script ${p.name ?? 'block'} executed (${p.script.length} characters).`);
      return { exitCode: failed ? 1 : 0, timedOut: false, stdout: `(simulated) ran ${p.script.split('\n').length} line(s) with ${p.interpreter}`, stderr: '', truncated: false, durationMs: 150 + sleep * 1000 };
    },
    install_updates: async (params) => {
      const p = CommandParams.install_updates.parse(params);
      const installed = m.pendingUpdates.filter((u) => p.category === 'all' || u.security);
      m.pendingUpdates = m.pendingUpdates.filter((u) => !installed.includes(u));
      for (const u of installed) m.record('info', 'Microsoft-Windows-WindowsUpdateClient', 19, `Installation Successful: ${u.title}`);
      return { installed: installed.map(({ id, title }) => ({ id, title })), rebootRequired: installed.length > 0 };
    },
    restart: async () => {
      setTimeout(() => {
        m.reboot();
        opts.onReboot?.(rebootSeconds);
      }, 300);
      return { scheduled: true, offlineSeconds: rebootSeconds };
    },
    shutdown: async () => {
      setTimeout(() => opts.onReboot?.(rebootSeconds), 300);
      return { scheduled: true };
    },
    uninstall_software: async (params) => {
      const p = CommandParams.uninstall_software.parse(params);
      const i = m.software.findIndex((s) => s.name.toLowerCase() === p.name.toLowerCase());
      if (i >= 0) m.software.splice(i, 1);
      return { name: p.name, removed: i >= 0 };
    },
    inventory: async () => ({ hostname: m.name, software: m.software.length, pendingUpdates: m.pendingUpdates.length, collectedAt: new Date().toISOString() }),
    network_discovery: async (params) => {
      const p = CommandParams.network_discovery.parse(params);
      const hosts = hostsOf(p.cidr);
      const found = hosts.filter((_, i) => i % 17 === 3).slice(0, 8).map((address, i) => ({ address, openPorts: p.ports.filter((_, j) => (i + j) % 2 === 0) }));
      return { cidr: p.cidr, scanned: hosts.length, hosts: found.filter((h) => h.openPorts.length > 0) };
    },
  };
}
