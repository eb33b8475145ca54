/**
 * The default policy: every tool's default tier, gathered from the tool definitions (common/tools/, one file per
 * tool; docs/tools-and-tiers.md shows them as a table), and the rules that raise a tier whatever the tool.
 * Per-action tiers (manage_service) are listed per action; an action not listed is denied.
 * run_remediation takes the tier of the action it runs on each device (and of any org override of that action).
 * Stopping or restarting a critical service (CRITICAL_SERVICES below) is T4.
 * Orgs may raise these; lowering one below the default needs an org admin and is audited.
 */
import { TOOLS, type DefaultTier, type ToolName } from './tools';

export { Tier } from './tier';

/** Tool name → its default tier, in catalog order (what GET /v1/orgs/:id/policy shows as `defaults`). */
export const DEFAULT_POLICY = Object.fromEntries(TOOLS.map((t) => [t.name, t.tier])) as Readonly<Record<ToolName, DefaultTier>>;

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
