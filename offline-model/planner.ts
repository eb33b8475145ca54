/**
 * The offline model's deterministic planner: reads the request's conversation and decides the next step the way
 * a careful model would for the demo and the tests: find the device, read it, answer. It understands plain
 * requests about devices, their details (hostname, uptime, OS, CPU, memory, disks) and their processes. Every
 * answer says plainly that it comes from the offline model.
 */
import crypto from 'node:crypto';

export type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: unknown; is_error?: boolean };
export interface Message {
  role: 'user' | 'assistant';
  content: string | Block[];
}
export interface Plan {
  content: Block[];
  stopReason: 'end_turn' | 'tool_use';
}

export const OFFLINE_NOTICE = '(offline model: no ANTHROPIC_API_KEY is set, so a local deterministic planner answered)';

interface DeviceRow {
  id: string;
  name: string;
  hostname: string;
  online: boolean;
}

const blocks = (m: Message): Block[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (c && typeof c === 'object' && 'text' in c ? String(c.text) : '')).join('');
  return '';
}

/** Parses the JSON a tool returned, tolerating a wrapper around it (such as an untrusted-data fence). */
export function extractJson(text: string): unknown {
  const start = text.search(/[[{]/);
  const end = Math.max(text.lastIndexOf('}'), text.lastIndexOf(']'));
  if (start < 0 || end <= start) return undefined;
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
}

interface ToolCall {
  name: string;
  input: Record<string, unknown>;
  result?: { text: string; isError: boolean };
}

/** The request that opened the current turn and the tool calls made since. */
function currentTurn(messages: Message[]): { request: string; calls: ToolCall[] } {
  let start = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user' && blocks(m).some((b) => b.type === 'text')) {
      start = i;
      break;
    }
  }
  const request = start >= 0 ? blocks(messages[start]!).filter((b) => b.type === 'text').map((b) => (b as { text: string }).text).join('\n') : '';
  const calls = new Map<string, ToolCall>();
  for (const m of messages.slice(start + 1)) {
    for (const b of blocks(m)) {
      if (b.type === 'tool_use') calls.set(b.id, { name: b.name, input: b.input });
      if (b.type === 'tool_result') {
        const call = calls.get(b.tool_use_id);
        if (call) call.result = { text: resultText(b.content), isError: b.is_error === true };
      }
    }
  }
  return { request, calls: [...calls.values()] };
}

interface Intent {
  info: boolean;
  processes: boolean;
  devices: boolean;
}

export function intentOf(text: string): Intent {
  const info = /\b(host ?names?|uptime|up ?time|info(rmation)?|details?|os|operating system|cpus?|memory|ram|disks?|specs?|how long)\b/i.test(text);
  const processes = /\b(process(es)?|running programs?|busiest|top)\b/i.test(text);
  const devices = /\b(devices?|machines?|endpoints?|computers?|pcs?|servers?|fleet|online|offline)\b/i.test(text);
  return { info, processes, devices };
}

function chooseDevice(request: string, devices: DeviceRow[]): DeviceRow | undefined {
  const lower = request.toLowerCase();
  const named = devices.find((d) => lower.includes(d.name.toLowerCase()) || lower.includes(d.hostname.toLowerCase()));
  return named ?? devices.find((d) => d.online);
}

function toolId(messages: Message[], index: number): string {
  const digest = crypto.createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 20);
  return `toolu_offline_${digest}_${index}`;
}

const answer = (text: string): Plan => ({ content: [{ type: 'text', text: `${OFFLINE_NOTICE}\n${text}` }], stopReason: 'end_turn' });

export function plan(messages: Message[], toolNames: string[]): Plan {
  const { request, calls } = currentTurn(messages);
  const intent = intentOf(request);
  const has = (name: string) => toolNames.includes(name);
  if (!intent.info && !intent.processes && !intent.devices) {
    return answer('I can list your devices, read a device (hostname, OS, uptime, CPU, memory, disks) and list its processes. Try: "what is the hostname and uptime of the demo device?"');
  }

  const listing = calls.find((c) => c.name === 'list_devices' && c.result);
  if (!listing && has('list_devices')) {
    return { content: [{ type: 'text', text: 'Let me find the device first.' }, { type: 'tool_use', id: toolId(messages, 0), name: 'list_devices', input: {} }], stopReason: 'tool_use' };
  }
  if (!listing || listing.result?.isError) return answer(`I could not list the devices: ${listing?.result?.text ?? 'the tool is not available'}.`);
  const devices = ((extractJson(listing.result!.text) as { devices?: DeviceRow[] } | undefined)?.devices ?? []) as DeviceRow[];
  if (!intent.info && !intent.processes) return answer(describeDevices(devices));

  const device = chooseDevice(request, devices);
  if (!device) return answer('No device is online right now, so I cannot read one live.');
  const wanted = [intent.info ? 'get_device_info' : null, intent.processes ? 'list_processes' : null].filter(
    (n): n is string => n !== null && has(n),
  );
  const missing = wanted.filter((name) => !calls.some((c) => c.name === name && c.input.device_id === device.id));
  if (missing.length > 0) {
    return {
      content: [
        { type: 'text', text: `Reading ${device.name}.` },
        ...missing.map((name, i) => ({ type: 'tool_use' as const, id: toolId(messages, i), name, input: { device_id: device.id } })),
      ],
      stopReason: 'tool_use',
    };
  }
  const parts = wanted.map((name) => {
    const call = calls.find((c) => c.name === name && c.input.device_id === device.id)!;
    if (call.result?.isError) return `${name} failed: ${call.result.text}`;
    const data = extractJson(call.result?.text ?? '');
    return name === 'get_device_info' ? describeInfo(device, data) : describeProcesses(device, data);
  });
  return answer(parts.join('\n'));
}

function describeDevices(devices: DeviceRow[]): string {
  if (devices.length === 0) return 'This organization has no devices yet.';
  const lines = devices.map((d) => `- ${d.name} (${d.hostname}): ${d.online ? 'online' : 'offline'}`);
  return `This organization has ${devices.length} device(s):\n${lines.join('\n')}`;
}

const gib = (n: unknown) => (typeof n === 'number' ? `${(n / 1024 ** 3).toFixed(1)} GiB` : '?');

function uptime(seconds: unknown): string {
  if (typeof seconds !== 'number') return 'unknown';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d} days, ${h} hours, ${m} minutes`;
}

function describeInfo(device: DeviceRow, data: unknown): string {
  const info = data as {
    hostname?: string;
    os?: { platform?: string; release?: string; distro?: string };
    uptimeSeconds?: number;
    cpu?: { model?: string; cores?: number };
    memory?: { totalBytes?: number; availableBytes?: number };
    disks?: { mount: string; totalBytes: number; availableBytes: number }[];
  } | undefined;
  if (!info?.hostname) return `${device.name} returned no readable system information.`;
  const disks = (info.disks ?? []).slice(0, 3).map((d) => `${d.mount} ${gib(d.availableBytes)} free of ${gib(d.totalBytes)}`);
  return [
    `${device.name} reports hostname ${info.hostname}.`,
    `Uptime: ${uptime(info.uptimeSeconds)}.`,
    `OS: ${info.os?.distro ?? info.os?.platform ?? 'unknown'} (kernel ${info.os?.release ?? '?'}).`,
    `CPU: ${info.cpu?.cores ?? '?'} cores, ${info.cpu?.model ?? 'unknown model'}. Memory: ${gib(info.memory?.availableBytes)} available of ${gib(info.memory?.totalBytes)}.`,
    disks.length ? `Disks: ${disks.join('; ')}.` : '',
  ].filter(Boolean).join(' ');
}

function describeProcesses(device: DeviceRow, data: unknown): string {
  const list = data as { total?: number; processes?: { pid: number; name: string; cpuPercent: number; memoryBytes: number }[] } | undefined;
  if (!list?.processes) return `${device.name} returned no readable process list.`;
  const top = list.processes.slice(0, 5).map((p) => `${p.name} (pid ${p.pid}, ${p.cpuPercent.toFixed(1)}% CPU, ${gib(p.memoryBytes)})`);
  return `${device.name} runs ${list.total ?? list.processes.length} processes. The busiest: ${top.join('; ')}.`;
}
