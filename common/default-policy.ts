/**
 * The default tier of every tool: the one file a human reads to know what the copilot may do unattended.
 *   T1 read-only: runs, logged.            T2 low-risk change: runs, logged, rate-limited.
 *   T3 significant change: an approver of the org approves first.
 *   T4 dangerous: approval with a typed confirmation, by someone other than the requester.
 * Per-action tiers (manage_service) are listed per action; an action not listed is denied.
 * run_remediation takes the tier of the action it runs on each device (and of any org override of that action).
 * Stopping or restarting a critical service (CRITICAL_SERVICES below) is T4.
 * Orgs may raise these; lowering one below this file needs an org admin and is audited.
 */
export const Tier = { T1: 1, T2: 2, T3: 3, T4: 4 } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

const { T1, T2, T3, T4 } = Tier;

export const DEFAULT_POLICY = {
  // Reads
  list_devices: T1,
  get_device_info: T1,
  get_device_metrics: T1,
  list_services: T1,
  list_processes: T1,
  get_event_logs: T1,
  list_installed_software: T1,
  list_alerts: T1,
  get_command_result: T1,
  list_discovered_hosts: T1,
  // Services: reading status is a read; changing state is significant.
  manage_service: { status: T1, start: T3, stop: T3, restart: T3 },
  // Low-risk changes
  acknowledge_alert: T2,
  add_device_note: T2,
  refresh_inventory: T2,
  network_discovery: T2, // private ranges only, at most a /22
  // Significant changes
  kill_process: T3,
  run_library_script: T3, // vetted entries of the org's script library
  install_updates: T3,
  // Dangerous: arbitrary scripts, power state, removing software
  execute_script: T4,
  restart_device: T4,
  shutdown_device: T4,
  uninstall_software: T4,
  // Many devices at once: the tier of the action it runs (a service action or a library script), raised by the
  // blast radius like any other call. One approval lists every device.
  run_remediation: 'tier of its action',
} as const;

export type PolicyToolName = keyof typeof DEFAULT_POLICY;

/** More than this many target devices raises a T2/T3 call one tier. */
export const BLAST_RADIUS_THRESHOLD = 10;
/** How far back a session's unapproved (T2) device changes count toward the blast radius of its next T2 call. */
export const BLAST_RADIUS_WINDOW_MINUTES = 60;

/**
 * Services whose loss cuts the technician off the device or blinds its defences: remote access, the Gatehouse
 * agent itself, and endpoint security (EDR/AV). Stopping or restarting one is T4 whichever tool reaches it
 * (manage_service, run_remediation), and no org override lowers that. Matched case-insensitively; a systemd
 * unit suffix (".service", ".socket") is ignored and a template instance ("name@…") counts as its template.
 * Windows and Linux names side by side.
 */
export const CRITICAL_SERVICES = [
  // Remote access: stopping it can lock everyone out of the device.
  'sshd', 'ssh', 'openssh-server', 'TermService', 'WinRM',
  // The Gatehouse agent: the copilot's own channel to the device.
  'gatehouse-agent', 'gatehouse', 'GatehouseAgent',
  // Microsoft Defender, Defender for Endpoint and Defender Firewall; legacy Security Essentials.
  'WinDefend', 'Sense', 'WdNisSvc', 'WdFilter', 'MsMpSvc', 'mdatp', 'MpsSvc',
  // CrowdStrike Falcon.
  'CSFalconService', 'falcon-sensor', 'CSAgent',
  // SentinelOne.
  'SentinelAgent', 'SentinelStaticEngine', 'SentinelHelperService', 'sentinelone', 'sentinel-agent',
  // Sophos, Carbon Black, Cortex XDR, Trend Micro, ESET, Symantec, ClamAV.
  'SAVService', 'Sophos Endpoint Defense Service', 'sophos-spl', 'CarbonBlack', 'CbDefense', 'cbagentd', 'cyserver', 'traps_pmd',
  'ntrtscan', 'ds_agent', 'ekrn', 'esets', 'SepMasterService', 'clamav-daemon', 'clamd',
  // The same services as Windows shows them by display name, and other SSH servers.
  'OpenSSH SSH Server', 'Microsoft Defender Antivirus Service', 'Windows Defender Antivirus Service',
  'Windows Defender Advanced Threat Protection Service', 'CrowdStrike Falcon Sensor Service', 'SentinelOne Agent', 'dropbear',
] as const;

/**
 * The processes of those services where their name differs from the service's (Windows images, Linux daemons):
 * killing one by pid (kill_process) is stopping the service.
 */
export const CRITICAL_PROCESSES = ['MsMpEng', 'MsSense', 'SenseIR', 'SenseCncProxy', 'NisSrv', 'SentinelServiceHost', 'SentinelUI', 'CSFalconContainer', 'wdavdaemon'] as const;

const critical = new Set(CRITICAL_SERVICES.map((s) => s.toLowerCase()));

export function isCriticalService(name: string): boolean {
  // "sshd.service", "sshd.socket" and template instances ("sshd@22-10.0.0.1.service") are the same daemon.
  const unit = name.trim().toLowerCase().replace(/\.(service|socket)$/, '');
  return critical.has(unit) || critical.has(unit.replace(/@.*$/, ''));
}

const criticalProcess = new Set([...CRITICAL_SERVICES, ...CRITICAL_PROCESSES].map((s) => s.toLowerCase()));

/** A process of a critical service, by its name as the endpoint reports it ("MsMpEng.exe", "sshd"). */
export function isCriticalProcess(name: string): boolean {
  return criticalProcess.has(name.trim().toLowerCase().replace(/\.exe$/, ''));
}

/** Service actions that take a critical service away (status and start do not). */
export const CRITICAL_SERVICE_ACTIONS: readonly string[] = ['stop', 'restart'];
