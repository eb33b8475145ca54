/**
 * What each catalog tool does once it is allowed. `Record<ToolName, …>`: a tool added to the catalog without a
 * handler here is a compile error.
 */
import type { PrismaClient } from '@prisma/client';
import { CommandOutput, type ProcessList, type SystemInfo } from '../../common/protocol';
import type { ToolInputOf, ToolName } from '../../common/tools';
import { deviceView } from '../../lib/device-view';

export interface ToolResult {
  output: unknown;
  summary: string;
}

type DatabaseHandler<N extends ToolName> = {
  type: 'database';
  run(prisma: PrismaClient, orgId: string, input: ToolInputOf<N>): Promise<ToolResult>;
};
type DeviceHandler = { type: 'device'; summarize(output: unknown, deviceName: string): ToolResult };

type Handlers = { [N in ToolName]: DatabaseHandler<N> | DeviceHandler };

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', `${m}m`].filter(Boolean).join(' ');
}

export const TOOL_HANDLERS: Handlers = {
  list_devices: {
    type: 'database',
    async run(prisma, orgId, input) {
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
      const output = { devices: devices.map(deviceView) };
      const online = devices.filter((d) => d.online).length;
      return { output, summary: `${devices.length} devices, ${online} online` };
    },
  },
  get_device_info: {
    type: 'device',
    summarize(output, deviceName) {
      const info: SystemInfo = CommandOutput.system_info.parse(output);
      return {
        output: info,
        summary: `${deviceName}: hostname ${info.hostname}, ${info.os.distro ?? info.os.platform}, up ${formatUptime(info.uptimeSeconds)}, ${info.cpu.cores} CPUs, ${gib(info.memory.availableBytes)} of ${gib(info.memory.totalBytes)} memory free`,
      };
    },
  },
  list_processes: {
    type: 'device',
    summarize(output, deviceName) {
      const list: ProcessList = CommandOutput.list_processes.parse(output);
      const top = list.processes.slice(0, 3).map((p) => `${p.name} (${p.cpuPercent.toFixed(1)}% CPU)`);
      return { output: list, summary: `${deviceName}: ${list.total} processes; busiest ${top.join(', ')}` };
    },
  },
};
