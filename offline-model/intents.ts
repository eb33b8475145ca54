/**
 * How the offline model reads a plain request: which tool it asks for and with what input. Rules are tried in
 * order; the first that matches wins. Device-bound rules get the device(s) the request names (or, when it names
 * none, the first online device: "the demo device").
 */
export interface DeviceRow {
  id: string;
  name: string;
  hostname: string;
  online: boolean;
}

export interface Intent {
  tool: string;
  /** 'one': one target device; 'many': every device the request names (or all online ones); 'none': no device. */
  devices: 'one' | 'many' | 'none';
  input(request: string, devices: DeviceRow[]): Record<string, unknown> | null;
}

const CIDR = /\b(\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2})\b/;
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/i;

export function scriptOf(request: string): { interpreter: 'bash' | 'powershell'; script: string } | null {
  const fenced = /```(\w+)?\n?([\s\S]*?)```/.exec(request);
  const inline = /\bscript\b[^:]*:\s*([\s\S]+)$/i.exec(request);
  const script = (fenced?.[2] ?? inline?.[1] ?? '').trim();
  if (!script) return null;
  const ps = /powershell|pwsh|\bps1\b/i.test(fenced?.[1] ?? '') || /\b(powershell|pwsh)\b/i.test(request) || /\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b/.test(script);
  return { interpreter: ps ? 'powershell' : 'bash', script };
}

function serviceOf(request: string): string | null {
  const m = /(?:the\s+)?["']?([A-Za-z][\w.@-]*)["']?\s+service\b/i.exec(request) ?? /\bservice\s+["']?([A-Za-z][\w.@-]*)/i.exec(request);
  const name = m?.[1];
  return name && !/^(the|a|print|this|that)$/i.test(name) ? name : null;
}

const one = (id: string) => ({ device_id: id });
const ids = (devices: DeviceRow[]) => ({ device_ids: devices.map((d) => d.id) });

/** "on all devices", "in site HQ", "in group Workstations": a fleet-wide service action becomes a remediation. */
function fleetTarget(request: string, devices: DeviceRow[]): Record<string, unknown> | null {
  const site = /\bin (?:the )?site\s+["']?([\w .-]+?)["']?(?:\s*$|[.,;])/i.exec(request)?.[1];
  if (site) return { site: site.trim() };
  const group = /\bin (?:the )?group\s+["']?([\w .-]+?)["']?(?:\s*$|[.,;])/i.exec(request)?.[1];
  if (group) return { group: group.trim() };
  return devices.length ? { device_ids: devices.map((d) => d.id) } : null;
}

export const INTENTS: { when: RegExp; intent: Intent }[] = [
  {
    when: /\b(restart|start|stop)\b.*\bservice\b.*\b(all|every|each)\b|\bservice\b.*\bin (the )?(site|group)\b/i,
    intent: {
      tool: 'run_remediation',
      devices: 'many',
      input(request, ds) {
        const service = serviceOf(request);
        const action = /\brestart\b/i.test(request) ? 'restart' : /\bstop\b/i.test(request) ? 'stop' : 'start';
        const target = fleetTarget(request, ds);
        return service && target ? { target, action: { type: 'service', service, action }, batch_size: 10, max_failures: 2 } : null;
      },
    },
  },
  {
    when: /\b(restart|start|stop|status of|check)\b.*\bservice\b|\bservice\b.*\b(restart|start|stop|status)\b/i,
    intent: {
      tool: 'manage_service',
      devices: 'one',
      input(request, [d]) {
        const service = serviceOf(request);
        const action = /\brestart\b/i.test(request) ? 'restart' : /\bstop\b/i.test(request) ? 'stop' : /\bstart\b/i.test(request) ? 'start' : 'status';
        return service && d ? { ...one(d.id), service, action } : null;
      },
    },
  },
  { when: /\b(shut\s*down|power\s*off)\b/i, intent: { tool: 'shutdown_device', devices: 'one', input: (_r, [d]) => (d ? one(d.id) : null) } },
  { when: /\b(reboot|restart)\b/i, intent: { tool: 'restart_device', devices: 'one', input: (_r, [d]) => (d ? one(d.id) : null) } },
  {
    when: /\b(kill|terminate|end)\b.*\b(process|pid)\b/i,
    intent: {
      tool: 'kill_process',
      devices: 'one',
      input(request, [d]) {
        const pid = /\b(?:pid|process)\s*#?(\d+)\b/i.exec(request)?.[1];
        return pid && d ? { ...one(d.id), pid: Number(pid) } : null;
      },
    },
  },
  {
    when: /\b(uninstall|remove)\b/i,
    intent: {
      tool: 'uninstall_software',
      devices: 'one',
      input(request, [d]) {
        const name = /\b(?:uninstall|remove)\s+["']?(.+?)["']?\s+(?:from|on)\b/i.exec(request)?.[1]?.trim();
        return name && d ? { ...one(d.id), name } : null;
      },
    },
  },
  {
    when: /\b(install|apply)\b.*\b(updates?|patch(es)?)\b|\bpatch\b/i,
    intent: { tool: 'install_updates', devices: 'many', input: (r, ds) => (ds.length ? { ...ids(ds), category: /\ball updates\b/i.test(r) ? 'all' : 'security' } : null) },
  },
  {
    when: /\b(library script|script from the library)\b/i,
    intent: {
      tool: 'run_library_script',
      devices: 'many',
      input(request, ds) {
        const script = /\blibrary script\s+["']?([\w.-]+)/i.exec(request)?.[1] ?? /\brun\s+["']?([\w.-]+)["']?\s+from the library/i.exec(request)?.[1];
        return script && ds.length ? { ...ids(ds), script } : null;
      },
    },
  },
  {
    when: /\b(run|execute)\b[\s\S]*\bscript\b|```/i,
    intent: { tool: 'execute_script', devices: 'one', input: (r, [d]) => ((s) => (s && d ? { ...one(d.id), ...s } : null))(scriptOf(r)) },
  },
  {
    when: /\b(discovered|found)\b.*\bhosts?\b|\bhosts?\b.*\b(discovered|found)\b/i,
    intent: { tool: 'list_discovered_hosts', devices: 'none', input: (r) => ((c) => (c ? { cidr: c } : {}))(CIDR.exec(r)?.[1]) },
  },
  {
    when: /\b(scan|discover)\b/i,
    intent: { tool: 'network_discovery', devices: 'one', input: (r, [d]) => ((c) => (c && d ? { ...one(d.id), cidr: c } : null))(CIDR.exec(r)?.[1]) },
  },
  { when: /\b(refresh|update)\b.*\binventory\b/i, intent: { tool: 'refresh_inventory', devices: 'many', input: (_r, ds) => (ds.length ? ids(ds) : null) } },
  {
    when: /\backnowledge\b/i,
    intent: { tool: 'acknowledge_alert', devices: 'none', input: (r) => ((id) => (id ? { alert_id: id } : null))(UUID.exec(r)?.[0]) },
  },
  {
    when: /\b(add|leave|write)\b.*\bnote\b/i,
    intent: { tool: 'add_device_note', devices: 'one', input: (r, [d]) => ((t) => (t && d ? { ...one(d.id), text: t } : null))(/\bnote\b[^:]*:\s*([\s\S]+)$/i.exec(r)?.[1]?.trim()) },
  },
  { when: /\balerts?\b/i, intent: { tool: 'list_alerts', devices: 'none', input: (r) => ({ status: /\ball alerts\b/i.test(r) ? 'all' : 'open' }) } },
  {
    when: /\bcommand result\b/i,
    intent: { tool: 'get_command_result', devices: 'none', input: (r) => ((id) => (id ? { command_id: id } : null))(/\bcommand result\s+(?:of\s+)?(\S+)/i.exec(r)?.[1]) },
  },
  { when: /\b(event ?logs?|events|logs?)\b/i, intent: { tool: 'get_event_logs', devices: 'one', input: (r, [d]) => (d ? { ...one(d.id), ...(/\berrors?\b/i.test(r) ? { level: 'error' } : {}) } : null) } },
  { when: /\b(installed software|software|programs|applications|apps)\b/i, intent: { tool: 'list_installed_software', devices: 'one', input: (_r, [d]) => (d ? one(d.id) : null) } },
  { when: /\bservices\b/i, intent: { tool: 'list_services', devices: 'one', input: (_r, [d]) => (d ? one(d.id) : null) } },
  { when: /\b(metrics|utili[sz]ation|usage|performance|load)\b/i, intent: { tool: 'get_device_metrics', devices: 'one', input: (_r, [d]) => (d ? one(d.id) : null) } },
];

export const INFO = /\b(host ?names?|uptime|up ?time|info(rmation)?|details?|os|operating system|cpus?|memory|ram|disks?|specs?|how long)\b/i;
export const PROCESSES = /\b(process(es)?|running programs?|busiest|top)\b/i;
export const DEVICES = /\b(devices?|machines?|endpoints?|computers?|pcs?|servers?|fleet|online|offline)\b/i;
