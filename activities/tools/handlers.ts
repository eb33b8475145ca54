/**
 * What a tool does on our side once it is allowed. A database tool runs here: `DATABASE_HANDLERS` has one handler
 * per tool whose definition `runs: 'database'`, and a missing one is a compile error. A device tool's results are
 * summarised per command kind from each device's parsed output; what a device tool keeps besides its output (the
 * hosts a network scan found) is its result keeper.
 */
import type { DeviceCommand, Prisma, PrismaClient } from '@prisma/client';
import { CommandOutput, FullOutput, type CommandKind } from '../../common/protocol';
import type { DatabaseToolName, ToolInputOf, ToolName } from '../../common/tools';
import { UNFINISHED_COMMAND } from '../../common/session';
import { deviceView } from '../../lib/device-view';
import { siteFilter } from '../../lib/site-scope';
import { readOutputPage } from './output-pages';

export interface ToolResult {
  output: unknown;
  summary: string;
}

export interface DatabaseContext {
  /** Fenced by row-level security to the session's org. */
  prisma: PrismaClient;
  orgId: string;
  /** The requesting user's sites when their role is narrowed to some; null for the whole org. */
  sites: string[] | null;
  userId: string;
  sessionId: string;
}

type DatabaseHandler<N extends DatabaseToolName> = { run(ctx: DatabaseContext, input: ToolInputOf<N>): Promise<ToolResult> };
type DatabaseHandlers = { [N in DatabaseToolName]: DatabaseHandler<N> };
type Output<K extends CommandKind> = ReturnType<(typeof CommandOutput)[K]['parse']>;

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', `${m}m`].filter(Boolean).join(' ');
}

/** One line about one device's result, per command kind. */
export const COMMAND_SUMMARIES: { [K in CommandKind]: (output: Output<K>) => string } = {
  system_info: (i) => `hostname ${i.hostname}, ${i.os.distro ?? i.os.platform}, up ${formatUptime(i.uptimeSeconds)}, ${i.cpu.cores} CPUs, ${gib(i.memory.availableBytes)} of ${gib(i.memory.totalBytes)} memory free`,
  get_metrics: (m) => `CPU ${m.cpuPercent.toFixed(0)}%, memory ${m.memoryUsedPercent.toFixed(0)}% used`,
  list_services: (s) => `${s.total} services, ${s.services.filter((x) => /running|active/i.test(x.status)).length} running`,
  list_processes: (l) => `${l.total} processes; busiest ${l.processes.slice(0, 3).map((p) => `${p.name} (${p.cpuPercent.toFixed(1)}% CPU)`).join(', ')}`,
  get_event_logs: (e) => `${e.entries.length} ${e.log} log entries`,
  list_software: (s) => `${s.total} packages installed`,
  manage_service: (s) => `service ${s.service}: ${s.action === 'status' ? s.status : `${s.action} done, now ${s.status}`}`,
  inventory: () => 'inventory refreshed',
  network_discovery: (n) => `${n.hosts.length} hosts with open ports in ${n.cidr} (${n.scanned} addresses scanned)`,
  kill_process: (k) => (k.killed ? `killed ${k.name} (pid ${k.pid})` : `pid ${k.pid} was not running`),
  run_script: (r) => (r.timedOut ? 'script timed out and was killed' : `script exited with code ${r.exitCode}`),
  install_updates: (u) => `${u.installed.length} updates installed${u.rebootRequired ? ', reboot required' : ''}`,
  restart: (r) => (r.scheduled ? 'restarting' : 'restart refused'),
  shutdown: (r) => (r.scheduled ? 'shutting down' : 'shutdown refused'),
  uninstall_software: (u) => (u.removed ? `${u.name} removed` : `${u.name} was not installed`),
};

export const DATABASE_HANDLERS: DatabaseHandlers = {
  list_devices: {
    async run({ prisma, orgId, sites }, input) {
      const devices = await prisma.device.findMany({
        where: {
          orgId,
          ...siteFilter(sites),
          ...(input.online === undefined ? {} : { online: input.online }),
          ...(input.site ? { site: { name: { equals: input.site, mode: 'insensitive' } } } : {}),
        },
        include: { site: true, group: true },
        orderBy: { name: 'asc' },
        take: 500,
      });
      const online = devices.filter((d) => d.online).length;
      return { output: { devices: devices.map(deviceView) }, summary: `${devices.length} devices, ${online} online` };
    },
  },
  list_alerts: {
    async run({ prisma, orgId, sites }, input) {
      const alerts = await prisma.alert.findMany({
        where: { orgId, device: siteFilter(sites), ...(input.device_id ? { deviceId: input.device_id } : {}), ...(input.status === 'all' ? {} : { status: input.status }) },
        include: { device: { select: { name: true } } },
        orderBy: { createdAt: 'desc' },
        take: 200,
      });
      const output = alerts.map((a) => ({ id: a.id, device: a.device.name, severity: a.severity, title: a.title, message: a.message, status: a.status, createdAt: a.createdAt.toISOString() }));
      return { output: { alerts: output }, summary: `${alerts.length} ${input.status === 'all' ? '' : `${input.status} `}alerts` };
    },
  },
  list_discovered_hosts: {
    async run({ prisma, orgId, sites }, input) {
      // A scan belongs to the site of the device that ran it: a technician narrowed to sites sees only theirs.
      const scanners = sites ? { deviceId: { in: (await prisma.device.findMany({ where: { orgId, ...siteFilter(sites) }, select: { id: true } })).map((d) => d.id) } } : {};
      const scans = await prisma.networkScan.findMany({
        where: { orgId, ...scanners, ...(input.cidr ? { cidr: input.cidr } : {}) },
        orderBy: { scannedAt: 'desc' },
        take: 50,
      });
      const latest = new Map<string, (typeof scans)[number]>();
      for (const s of scans) if (!latest.has(s.cidr)) latest.set(s.cidr, s);
      const ranges = [...latest.values()].map((s) => ({ cidr: s.cidr, scannedAt: s.scannedAt.toISOString(), scanned: s.scanned, hosts: s.hosts as { address: string; openPorts: number[] }[] }));
      const hosts = ranges.reduce((n, r) => n + r.hosts.length, 0);
      return { output: { ranges }, summary: ranges.length ? `${hosts} hosts with open ports in ${ranges.length} scanned range(s)` : 'no network discovery scan yet' };
    },
  },
  get_command_result: {
    async run({ prisma, orgId, sites }, input) {
      const cmd = await prisma.deviceCommand.findFirst({ where: { id: input.command_id, orgId, device: siteFilter(sites) }, include: { device: { select: { name: true } } } });
      if (!cmd) return { output: { error: 'command not found' }, summary: 'command not found in this organization' };
      const about = { commandId: cmd.id, device: cmd.device.name, kind: cmd.kind, status: cmd.status, errorCode: cmd.errorCode, completedAt: cmd.completedAt?.toISOString() ?? null };
      if (!input.stream) return { output: { ...about, result: cmd.result }, summary: `${cmd.kind} on ${cmd.device.name}: ${cmd.status}` };
      // A page of the full output, checked against what the device declared in its result.
      const declared = FullOutput.safeParse((cmd.result as { fullOutput?: unknown } | null)?.fullOutput);
      const page = await readOutputPage(prisma, {
        commandId: cmd.id,
        orgId,
        stream: input.stream,
        offset: input.offset ?? 0,
        declared: declared.success ? declared.data[input.stream] : null,
        finished: !UNFINISHED_COMMAND.includes(cmd.status),
      });
      const range = `bytes ${page.offset}-${page.nextOffset ?? page.storedBytes} of ${page.storedBytes} stored`;
      return {
        output: { ...about, fullOutput: page },
        summary: `${input.stream} of ${cmd.kind} on ${cmd.device.name}: ${range}${page.complete ? '' : ' (not the complete output)'}`,
      };
    },
  },
  acknowledge_alert: {
    async run({ prisma, orgId, sites, userId }, input) {
      // Only alerts of devices in the user's sites: one outside them answers exactly as an unknown id.
      const updated = await prisma.alert.updateMany({
        where: { id: input.alert_id, orgId, status: 'open', device: siteFilter(sites) },
        data: { status: 'acknowledged', acknowledgedBy: userId, acknowledgedAt: new Date() },
      });
      if (updated.count === 0) return { output: { acknowledged: false }, summary: sites ? 'no open alert with that id in the sites you work on' : 'no open alert with that id in this organization' };
      return { output: { acknowledged: true, alertId: input.alert_id, note: input.note ?? null }, summary: 'alert acknowledged' };
    },
  },
  add_device_note: {
    async run({ prisma, orgId, userId, sessionId }, input) {
      const note = await prisma.deviceNote.create({ data: { orgId, deviceId: input.device_id, text: input.text, authorId: userId, sessionId } });
      return { output: { noteId: note.id }, summary: 'note added' };
    },
  },
};

/** Parses one command's output and summarises it; throws if the output does not match its schema. */
export function summarizeCommandOutput(kind: CommandKind, output: unknown): ToolResult {
  const parsed = CommandOutput[kind].parse(output);
  return { output: parsed, summary: (COMMAND_SUMMARIES[kind] as (o: unknown) => string)(parsed) };
}

/** A device command that finished with output matching its kind's schema, and that output. */
export interface SucceededCommand {
  cmd: DeviceCommand;
  output: unknown;
}

/** What the server keeps of a device tool's finished commands besides the call's recorded output. */
type ResultKeeper = (prisma: PrismaClient, succeeded: SucceededCommand[]) => Promise<void>;

const RESULT_KEEPERS: { [N in Exclude<ToolName, DatabaseToolName>]?: ResultKeeper } = {
  // Discovery results are kept per org (read back with list_discovered_hosts); the command id makes it idempotent.
  async network_discovery(prisma, succeeded) {
    for (const { cmd, output } of succeeded) {
      const found = output as { cidr: string; scanned: number; hosts: unknown[] };
      const row = { orgId: cmd.orgId, deviceId: cmd.deviceId, cidr: found.cidr, scanned: found.scanned, hosts: found.hosts as Prisma.InputJsonValue, scannedAt: cmd.completedAt ?? new Date() };
      await prisma.networkScan.upsert({ where: { id: cmd.id }, create: { id: cmd.id, ...row }, update: {} });
    }
  },
};

export function resultKeeperOf(name: ToolName): ResultKeeper | undefined {
  return (RESULT_KEEPERS as Partial<Record<ToolName, ResultKeeper>>)[name];
}
