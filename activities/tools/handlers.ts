/**
 * What each catalog tool does once it is allowed. `Record<ToolName, …>`: a tool added to the catalog without a
 * handler here is a compile error. Database tools run here; device tools are summarised from each device's
 * parsed command output.
 */
import type { PrismaClient } from '@prisma/client';
import { CommandOutput, type CommandKind } from '../../common/protocol';
import type { ToolInputOf, ToolName } from '../../common/tools';
import { deviceView } from '../../lib/device-view';

export interface ToolResult {
  output: unknown;
  summary: string;
}

export interface DatabaseContext {
  prisma: PrismaClient;
  orgId: string;
  userId: string;
  sessionId: string;
}

type DatabaseHandler<N extends ToolName> = { type: 'database'; run(ctx: DatabaseContext, input: ToolInputOf<N>): Promise<ToolResult> };
type DeviceHandler<K extends CommandKind> = { type: 'device'; kind: K; summarize(output: ReturnType<(typeof CommandOutput)[K]['parse']>): string };
type Handler<N extends ToolName> = DatabaseHandler<N> | { [K in CommandKind]: DeviceHandler<K> }[CommandKind];
type Handlers = { [N in ToolName]: Handler<N> };

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', `${m}m`].filter(Boolean).join(' ');
}

const device = <K extends CommandKind>(kind: K, summarize: DeviceHandler<K>['summarize']): DeviceHandler<K> => ({ type: 'device', kind, summarize });

export const TOOL_HANDLERS: Handlers = {
  list_devices: {
    type: 'database',
    async run({ prisma, orgId }, input) {
      const devices = await prisma.device.findMany({
        where: {
          orgId,
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
    type: 'database',
    async run({ prisma, orgId }, input) {
      const alerts = await prisma.alert.findMany({
        where: { orgId, ...(input.device_id ? { deviceId: input.device_id } : {}), ...(input.status === 'all' ? {} : { status: input.status }) },
        include: { device: { select: { name: true } } },
        orderBy: { createdAt: 'desc' },
        take: 200,
      });
      const output = alerts.map((a) => ({ id: a.id, device: a.device.name, severity: a.severity, title: a.title, message: a.message, status: a.status, createdAt: a.createdAt.toISOString() }));
      return { output: { alerts: output }, summary: `${alerts.length} ${input.status === 'all' ? '' : `${input.status} `}alerts` };
    },
  },
  get_command_result: {
    type: 'database',
    async run({ prisma, orgId }, input) {
      const cmd = await prisma.deviceCommand.findFirst({ where: { id: input.command_id, orgId }, include: { device: { select: { name: true } } } });
      if (!cmd) return { output: { error: 'command not found' }, summary: 'command not found in this organization' };
      const output = { commandId: cmd.id, device: cmd.device.name, kind: cmd.kind, status: cmd.status, errorCode: cmd.errorCode, result: cmd.result, completedAt: cmd.completedAt?.toISOString() ?? null };
      return { output, summary: `${cmd.kind} on ${cmd.device.name}: ${cmd.status}` };
    },
  },
  acknowledge_alert: {
    type: 'database',
    async run({ prisma, orgId, userId }, input) {
      const updated = await prisma.alert.updateMany({ where: { id: input.alert_id, orgId, status: 'open' }, data: { status: 'acknowledged', acknowledgedBy: userId, acknowledgedAt: new Date() } });
      if (updated.count === 0) return { output: { acknowledged: false }, summary: 'no open alert with that id in this organization' };
      return { output: { acknowledged: true, alertId: input.alert_id, note: input.note ?? null }, summary: 'alert acknowledged' };
    },
  },
  add_device_note: {
    type: 'database',
    async run({ prisma, orgId, userId, sessionId }, input) {
      const note = await prisma.deviceNote.create({ data: { orgId, deviceId: input.device_id, text: input.text, authorId: userId, sessionId } });
      return { output: { noteId: note.id }, summary: 'note added' };
    },
  },
  get_device_info: device('system_info', (i) => `hostname ${i.hostname}, ${i.os.distro ?? i.os.platform}, up ${formatUptime(i.uptimeSeconds)}, ${i.cpu.cores} CPUs, ${gib(i.memory.availableBytes)} of ${gib(i.memory.totalBytes)} memory free`),
  get_device_metrics: device('get_metrics', (m) => `CPU ${m.cpuPercent.toFixed(0)}%, memory ${m.memoryUsedPercent.toFixed(0)}% used`),
  list_services: device('list_services', (s) => `${s.total} services, ${s.services.filter((x) => /running/i.test(x.status)).length} running`),
  list_processes: device('list_processes', (l) => `${l.total} processes; busiest ${l.processes.slice(0, 3).map((p) => `${p.name} (${p.cpuPercent.toFixed(1)}% CPU)`).join(', ')}`),
  get_event_logs: device('get_event_logs', (e) => `${e.entries.length} ${e.log} log entries`),
  list_installed_software: device('list_software', (s) => `${s.total} packages installed`),
  manage_service: device('manage_service', (s) => `service ${s.service}: ${s.action === 'status' ? s.status : `${s.action} done, now ${s.status}`}`),
  refresh_inventory: device('inventory', () => 'inventory refreshed'),
  network_discovery: device('network_discovery', (n) => `${n.hosts.length} hosts with open ports in ${n.cidr} (${n.scanned} addresses scanned)`),
  kill_process: device('kill_process', (k) => (k.killed ? `killed ${k.name} (pid ${k.pid})` : `pid ${k.pid} was not running`)),
  run_library_script: device('run_script', (r) => (r.timedOut ? 'script timed out and was killed' : `script exited with code ${r.exitCode}`)),
  install_updates: device('install_updates', (u) => `${u.installed.length} updates installed${u.rebootRequired ? ', reboot required' : ''}`),
  execute_script: device('run_script', (r) => (r.timedOut ? 'script timed out and was killed' : `script exited with code ${r.exitCode}`)),
  restart_device: device('restart', (r) => (r.scheduled ? 'restarting' : 'restart refused')),
  shutdown_device: device('shutdown', (r) => (r.scheduled ? 'shutting down' : 'shutdown refused')),
  uninstall_software: device('uninstall_software', (u) => (u.removed ? `${u.name} removed` : `${u.name} was not installed`)),
};

/** Parses one device's output for a tool and summarises it; throws if the output does not match its schema. */
export function summarizeDeviceOutput(tool: ToolName, output: unknown): ToolResult {
  const handler = TOOL_HANDLERS[tool];
  if (handler.type !== 'device') throw new Error(`${tool} is not a device tool`);
  const parsed = CommandOutput[handler.kind].parse(output);
  return { output: parsed, summary: (handler.summarize as (o: unknown) => string)(parsed) };
}
