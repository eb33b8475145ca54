/**
 * The offline model's deterministic planner: reads the request's conversation and decides the next step the way
 * a careful model would for the demo and the tests: find the device, read it, answer. It understands plain
 * requests about devices, their details (hostname, uptime, OS, CPU, memory, disks) and their processes. Every
 * answer says plainly that it comes from the offline model.
 */
import crypto from 'node:crypto';
import { DEVICES, INFO, INTENTS, PROCESSES, type DeviceRow } from './intents';

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

function chooseDevices(request: string, devices: DeviceRow[], mode: 'one' | 'many'): DeviceRow[] {
  const lower = request.toLowerCase();
  const named = devices.filter((d) => lower.includes(d.name.toLowerCase()) || lower.includes(d.hostname.toLowerCase()));
  if (mode === 'many' && /\b(all|every)\b/i.test(request)) return devices.filter((d) => d.online);
  if (named.length > 0) return mode === 'one' ? named.slice(0, 1) : named;
  // "The demo device": the first online one; for one device, an offline one rather than none (its read is answered
  // from what is known of it, a change waits for it).
  const demo = devices.find((d) => d.online) ?? (mode === 'one' ? devices[0] : undefined);
  return demo ? [demo] : [];
}

function toolId(messages: Message[], index: number): string {
  const digest = crypto.createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 20);
  return `toolu_offline_${digest}_${index}`;
}

const answer = (text: string): Plan => ({ content: [{ type: 'text', text: `${OFFLINE_NOTICE}\n${text}` }], stopReason: 'end_turn' });
const useTools = (messages: Message[], text: string, uses: { name: string; input: Record<string, unknown> }[]): Plan => ({
  content: [{ type: 'text', text }, ...uses.map((u, i) => ({ type: 'tool_use' as const, id: toolId(messages, i), name: u.name, input: u.input }))],
  stopReason: 'tool_use',
});

/** `/tool <name> {json}`: asks for exactly that tool call (for demos and tests of the cage). */
const DIRECT = /^\s*\/tool\s+([A-Za-z_][\w-]*)\s*([\s\S]*)$/;

/** The user asks to wait for the device ("wait for it", "when it comes back online"). */
const WAIT = /\bwait\b|\bwhen it (?:comes|is) back\b|\bonce it reconnects\b/i;

/**
 * A question about what was already done ("did the restart work?", "has the service been restarted?"): answered from
 * the conversation, never planned as a new change (a model that read "restart" in it would ask for one).
 */
const ASKS_ABOUT_DONE = /^\s*(?:did|has|have|was|were)\b[^?]*\?\s*$/i;

/** Every tool call of the whole conversation, in order, with its result where it has one. */
function allCalls(messages: Message[]): ToolCall[] {
  const calls = new Map<string, ToolCall>();
  for (const m of messages) {
    for (const b of blocks(m)) {
      if (b.type === 'tool_use') calls.set(b.id, { name: b.name, input: b.input });
      if (b.type === 'tool_result') {
        const call = calls.get(b.tool_use_id);
        if (call) call.result = { text: resultText(b.content), isError: b.is_error === true };
      }
    }
  }
  return [...calls.values()];
}

export function plan(messages: Message[], toolNames: string[]): Plan {
  const { request, calls } = currentTurn(messages);
  const has = (name: string) => toolNames.includes(name);

  if (ASKS_ABOUT_DONE.test(request) && calls.length === 0) {
    const last = allCalls(messages).filter((c) => c.result && c.name !== 'list_devices').at(-1);
    return answer(
      last
        ? `The last step of this session: ${describeResult(last)}`
        : 'Nothing has run in this session yet. To have something done, ask for it (for example: "restart the Spooler service on ACME-PC-01").',
    );
  }

  const direct = DIRECT.exec(request);
  if (direct) {
    const [, name, json] = direct;
    if (calls.length > 0) return answer(calls.map((c) => describeResult(c)).join('\n'));
    let input: Record<string, unknown> = {};
    try {
      input = json?.trim() ? (JSON.parse(json) as Record<string, unknown>) : {};
    } catch {
      return answer(`The input after /tool ${name} is not valid JSON.`);
    }
    return useTools(messages, `Calling ${name} as asked.`, [{ name: name!, input }]);
  }

  const rule = INTENTS.find((r) => r.when.test(request) && has(r.intent.tool))?.intent;
  const readInfo = INFO.test(request);
  const readProcesses = PROCESSES.test(request);
  if (!rule && !readInfo && !readProcesses && !DEVICES.test(request)) {
    return answer('I can list and read your devices, manage services, run scripts, restart machines, scan networks and more. Try: "what is the hostname and uptime of the demo device?"');
  }

  if (rule?.devices === 'none') {
    const done = calls.find((c) => c.name === rule.tool && c.result);
    if (done) return answer(describeResult(done));
    const input = rule.input(request, []);
    return input ? useTools(messages, `Using ${rule.tool}.`, [{ name: rule.tool, input }]) : answer(`I need more detail to use ${rule.tool}.`);
  }

  const listing = calls.find((c) => c.name === 'list_devices' && c.result);
  if (!listing && has('list_devices')) return useTools(messages, 'Let me find the device first.', [{ name: 'list_devices', input: {} }]);
  if (!listing || listing.result?.isError) return answer(`I could not list the devices: ${listing?.result?.text ?? 'the tool is not available'}.`);
  const devices = ((extractJson(listing.result!.text) as { devices?: DeviceRow[] } | undefined)?.devices ?? []) as DeviceRow[];

  if (rule) {
    const done = calls.find((c) => c.name === rule.tool);
    if (done) return answer(describeResult(done));
    const targets = chooseDevices(request, devices, rule.devices);
    if (targets.length === 0) return answer('No matching device is online, so I cannot do that now.');
    const input = rule.input(request, targets);
    if (!input) return answer(`I need more detail to use ${rule.tool} (for example the service, process id or script).`);
    return useTools(messages, `Using ${rule.tool} on ${targets.map((t) => t.name).join(', ')}.`, [{ name: rule.tool, input }]);
  }
  if (!readInfo && !readProcesses) return answer(describeDevices(devices));

  const [device] = chooseDevices(request, devices, 'one');
  if (!device) return answer('No device is online right now, so I cannot read one live.');
  const wanted = [readInfo ? 'get_device_info' : null, readProcesses ? 'list_processes' : null].filter((n): n is string => n !== null && has(n));
  const missing = wanted.filter((name) => !calls.some((c) => c.name === name && c.input.device_id === device.id));
  // Asked to wait: an offline device's read is queued until it reconnects instead of answered from what is known.
  const wait = WAIT.test(request) ? { wait_for_device: true } : {};
  if (missing.length > 0) return useTools(messages, `Reading ${device.name}.`, missing.map((name) => ({ name, input: { device_id: device.id, ...wait } })));
  const parts = wanted.map((name) => {
    const call = calls.find((c) => c.name === name && c.input.device_id === device.id)!;
    if (call.result?.isError) return `${name} failed: ${call.result.text}`;
    const data = extractJson(call.result?.text ?? '');
    if ((data as { live?: unknown } | undefined)?.live === false) return describeOffline(device, data as never);
    return name === 'get_device_info' ? describeInfo(device, data) : describeProcesses(device, data);
  });
  return answer(parts.join('\n'));
}

/** A plain-words account of one tool call's result. */
function describeResult(call: ToolCall): string {
  if (!call.result) return `${call.name}: no result.`;
  if (call.result.isError) return `${call.name} did not run: ${call.result.text.slice(0, 600)}`;
  const data = extractJson(call.result.text) as Record<string, any> | undefined;
  if (!data) return `${call.name}: ${call.result.text.slice(0, 600)}`;
  if (Array.isArray(data.devices) && data.devices.every((d: any) => 'ok' in d)) {
    return `${call.name}:\n${data.devices.map((d: any) => `- ${d.device}: ${d.ok ? 'done' : 'failed'}, ${d.summary}`).join('\n')}`;
  }
  switch (call.name) {
    case 'manage_service':
      return data.action === 'status'
        ? `The ${data.service} service is ${data.status}.`
        : `${data.action} of the ${data.service} service done: it is now ${data.status} (was ${data.previousStatus}).`;
    case 'execute_script':
    case 'run_library_script':
      return data.timedOut ? 'The script timed out and was killed.' : `The script exited with code ${data.exitCode}. Output:\n${String(data.stdout ?? '').slice(0, 1500)}`;
    case 'restart_device':
      return `The device is restarting${data.offlineSeconds ? ` (back in about ${data.offlineSeconds} seconds)` : ''}.`;
    case 'get_device_info':
      return describeInfo({ id: '', name: String(data.hostname ?? 'the device'), hostname: String(data.hostname ?? ''), online: true }, data);
    default:
      return `${call.name} done: ${JSON.stringify(data).slice(0, 800)}`;
  }
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

/** A read answered from what is known of an offline device (activities/record-tool-result.ts), in plain words. */
function describeOffline(device: DeviceRow, data: { offlineSince?: string | null; lastKnown?: { at?: string | null; summary?: string } | null }): string {
  const since = data.offlineSince ? `has been offline since ${data.offlineSince}` : 'is offline (it never connected)';
  const last = data.lastKnown?.summary ? `Last known (read ${data.lastKnown.at ?? 'earlier'}): ${data.lastKnown.summary}.` : 'No earlier reading of it is recorded.';
  return `${device.name} ${since}, so it was not read live. ${last} Ask again and say "wait for it" to read it live when it reconnects.`;
}

function describeInfo(device: DeviceRow, data: unknown): string {
  if ((data as { live?: unknown } | undefined)?.live === false) return describeOffline(device, data as never);
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
