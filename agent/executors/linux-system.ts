/** Linux services (systemd), logs (journal or syslog), packages (dpkg), metrics, processes and power. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { CommandParams } from '../../common/protocol';
import { isCriticalProcess } from '../../common/default-policy';
import { ExecutorError } from './types';

const run = promisify(execFile);

async function exec(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { maxBuffer: 8 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { code?: string | number };
    if (e.code === 'ENOENT') throw new ExecutorError('UNSUPPORTED', `${what} is not available on this device (${cmd} not found)`);
    throw new ExecutorError('EXECUTION_FAILED', `${cmd} failed`);
  }
}

async function cpuPercent(): Promise<number> {
  const sample = async () => {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    const idle = (line[3] ?? 0) + (line[4] ?? 0);
    return { idle, total: line.reduce((a, b) => a + b, 0) };
  };
  const a = await sample();
  await new Promise((r) => setTimeout(r, 200));
  const b = await sample();
  const total = b.total - a.total;
  return total > 0 ? Math.round((1 - (b.idle - a.idle) / total) * 1000) / 10 : 0;
}

export async function metrics(disks: () => Promise<{ mount: string; totalBytes: number; availableBytes: number }[]>) {
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const available = Number(/^MemAvailable:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) * 1024;
  return {
    cpuPercent: await cpuPercent(),
    memoryUsedPercent: Math.round((1 - available / os.totalmem()) * 1000) / 10,
    loadAverage: os.loadavg(),
    disks: (await disks()).map((d) => ({ mount: d.mount, usedPercent: d.totalBytes ? Math.round((1 - d.availableBytes / d.totalBytes) * 1000) / 10 : 0 })),
  };
}

export async function listServices(raw: Record<string, unknown>) {
  const p = CommandParams.list_services.parse(raw);
  const out = await exec('systemctl', ['list-units', '--type=service', '--all', '--no-legend', '--plain', '--no-pager'], 'systemd');
  const services = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0]?.endsWith('.service'))
    .map((f) => ({ name: f[0]!.replace(/\.service$/, ''), status: f[3] ?? 'unknown', displayName: f.slice(4).join(' ').slice(0, 300) }))
    .filter((s) => !p.filter || s.name.toLowerCase().includes(p.filter.toLowerCase()));
  return { total: services.length, services: services.slice(0, 2000) };
}

async function serviceState(service: string): Promise<string> {
  try {
    const { stdout } = await run('systemctl', ['is-active', `${service}.service`]);
    return stdout.trim();
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '').trim();
    if ((err as { code?: string }).code === 'ENOENT') throw new ExecutorError('UNSUPPORTED', 'systemd is not available on this device');
    return out || 'unknown';
  }
}

export async function manageService(raw: Record<string, unknown>) {
  const p = CommandParams.manage_service.parse(raw);
  const previous = await serviceState(p.service);
  if (previous === 'inactive' && p.action === 'status') {
    const known = await exec('systemctl', ['list-unit-files', `${p.service}.service`, '--no-legend'], 'systemd');
    if (!known.trim()) throw new ExecutorError('NOT_FOUND', `service ${p.service} not found`);
  }
  if (p.action !== 'status') await exec('systemctl', [p.action, `${p.service}.service`], 'systemd');
  return { service: p.service, action: p.action, status: await serviceState(p.service), previousStatus: previous };
}

export async function eventLogs(raw: Record<string, unknown>) {
  const p = CommandParams.get_event_logs.parse(raw);
  const priority = p.level === 'error' ? '3' : p.level === 'warning' ? '4' : '6';
  const args = ['--no-pager', '-o', 'json', '-n', String(p.limit), '-p', priority, '--since', `-${p.sinceHours}h`];
  if (p.log && !['System', 'Application', 'Security'].includes(p.log)) args.push('-u', p.log);
  try {
    const out = await exec('journalctl', args, 'the systemd journal');
    const entries = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>)
      .map((e) => ({
        time: new Date(Number(e.__REALTIME_TIMESTAMP ?? 0) / 1000).toISOString(),
        level: Number(e.PRIORITY) <= 3 ? 'error' : Number(e.PRIORITY) === 4 ? 'warning' : 'info',
        source: String(e.SYSLOG_IDENTIFIER ?? e._SYSTEMD_UNIT ?? 'kernel').slice(0, 200),
        message: String(e.MESSAGE ?? '').slice(0, 4000),
      }));
    return { log: p.log, entries };
  } catch (err) {
    if (!(err instanceof ExecutorError) || err.code !== 'UNSUPPORTED') throw err;
    // No journal: fall back to the syslog file.
    const text = await readFile('/var/log/syslog', 'utf8').catch(() => {
      throw new ExecutorError('UNSUPPORTED', 'neither the systemd journal nor /var/log/syslog is available');
    });
    const lines = text.trim().split('\n').slice(-p.limit);
    return { log: 'syslog', entries: lines.map((l) => ({ time: new Date().toISOString(), level: 'info', source: 'syslog', message: l.slice(0, 4000) })) };
  }
}

export async function listSoftware(raw: Record<string, unknown>) {
  const p = CommandParams.list_software.parse(raw);
  const out = await exec('dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${Maintainer}\n'], 'the package database (dpkg)');
  const packages = out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'))
    .map(([name, version, publisher]) => ({ name: name!.slice(0, 300), version: (version ?? '').slice(0, 100), publisher: publisher?.slice(0, 200) }))
    .filter((s) => !p.filter || s.name.toLowerCase().includes(p.filter.toLowerCase()));
  return { total: packages.length, packages: packages.slice(0, 5000) };
}

export async function killProcess(raw: Record<string, unknown>) {
  const p = CommandParams.kill_process.parse(raw);
  let name: string;
  try {
    const stat = await readFile(`/proc/${p.pid}/stat`, 'utf8');
    name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return { pid: p.pid, name: p.name ?? '', killed: false };
  }
  if (p.name && p.name !== name) throw new ExecutorError('INVALID_COMMAND', `pid ${p.pid} is ${name}, not ${p.name}`);
  // A critical process (remote access, endpoint security) is killed only when the call named it: the server's
  // policy makes that T4, so the approver saw which process it was.
  if (!p.name && isCriticalProcess(name)) throw new ExecutorError('INVALID_COMMAND', `pid ${p.pid} is ${name}, a critical process: the call must name it`);
  if (p.pid === process.pid) throw new ExecutorError('INVALID_COMMAND', 'the agent does not kill itself');
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    throw new ExecutorError('EXECUTION_FAILED', `could not signal pid ${p.pid}`);
  }
  return { pid: p.pid, name, killed: true };
}
