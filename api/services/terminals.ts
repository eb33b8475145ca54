/**
 * The operations of the remote terminal (docs/terminal.md), one each: a technician asks for a terminal on a device
 * (a `terminalAccess` workflow then asks for its approval); the requests an org's people may see; revoking one (its
 * live terminals close at once, on every api node); the org's recordings and one recording's asciicast, checked
 * against the SHA-256 the audit chain holds. Another org's id answers like an unknown one.
 */
import crypto from 'node:crypto';
import type { TerminalRecording, TerminalSession } from '@prisma/client';
import { terminalWorkflowId } from '../../common/ids';
import { audit } from '../../audit/log';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { closeLiveTerminals } from '../../lib/terminal-events';
import { terminalChangedSignal } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { findOrgFor, hasRole, orgsWhere, Role, siteReach, sitesWhere } from '../http/access';
import type { Caller } from './caller';

export interface TerminalRequest {
  reason: string;
  windowSeconds?: number;
}

/** A technician (or admin) of the device's org, whose sites reach the device, asks for a terminal on it. */
export async function requestTerminal({ deps, system, principal }: Caller, deviceId: string, req: TerminalRequest) {
  const roles = [Role.Technician, Role.Admin];
  const reach = orgsWhere(principal, roles).map((orgId) => siteReach(principal, orgId, roles));
  const device = reach.length ? await deps.prisma.device.findFirst({ where: { id: deviceId, OR: reach }, include: { org: true } }) : null;
  if (!device) throw AppError.notFound('device');
  if (device.org.copilotPausedAt) {
    await audit(system, { orgId: device.orgId, actorType: 'user', actorId: principal.userId, action: 'terminal.refused', target: device.name, data: { why: 'the copilot is paused (kill switch)' } });
    throw new AppError(AppErrorCode.Conflict, 'an admin paused the copilot for this organization (kill switch): no terminal opens until it is resumed');
  }
  const windowSeconds = Math.min(req.windowSeconds ?? deps.config.terminals.windowSeconds, deps.config.terminals.windowSeconds);
  const id = crypto.randomUUID();
  const workflowId = terminalWorkflowId(device.orgId, id);
  const row = await system.terminalSession.create({
    data: { id, orgId: device.orgId, deviceId: device.id, requestedBy: principal.userId, reason: req.reason, windowSeconds, tier: 4, workflowId, status: 'pending' },
  });
  await audit(system, { orgId: device.orgId, actorType: 'user', actorId: principal.userId, action: 'terminal.requested', target: device.name, sessionId: id, data: { reason: req.reason, windowSeconds } });
  try {
    await deps.temporal.workflow.start('terminalAccess', { workflowId, taskQueue: deps.config.taskQueue, args: [{ terminalId: id, orgId: device.orgId }] });
  } catch (err) {
    await system.terminalSession.update({ where: { id }, data: { status: 'cancelled', endedAt: new Date(), endReason: 'unavailable' } });
    deps.logger.error({ err: (err as Error).message, terminalId: id }, 'could not start the terminal request workflow');
    throw new AppError(AppErrorCode.Unavailable, 'the approval service is unavailable; nothing was requested, try again');
  }
  return { row, device };
}

/**
 * Who may see a request: its technician, and the org's approvers, admins and auditors whose sites reach its device
 * (a binding narrowed to other sites sees nothing of it, as with sessions and approvals: the unknown id's answer).
 * `siteOf`: the site of each device, read in the request's org; a device not found there is seen by whole-org roles only.
 */
function maySee(principal: Caller['principal'], row: Pick<TerminalSession, 'orgId' | 'requestedBy' | 'deviceId'>, siteOf: ReadonlyMap<string, string>, roles: Role[] = [Role.Approver, Role.Admin, Role.Auditor]): boolean {
  if (row.requestedBy === principal.userId) return true;
  if (!hasRole(principal, row.orgId, roles)) return false;
  const sites = sitesWhere(principal, row.orgId, roles);
  if (sites === null) return true;
  const site = siteOf.get(row.deviceId);
  return site !== undefined && sites.includes(site);
}

/** The site of each device of these rows, in their orgs. */
async function sitesOf(deps: ApiDeps, rows: Pick<TerminalSession, 'orgId' | 'deviceId'>[]): Promise<Map<string, string>> {
  if (rows.length === 0) return new Map();
  const devices = await deps.prisma.device.findMany({ where: { id: { in: [...new Set(rows.map((r) => r.deviceId))] }, orgId: { in: [...new Set(rows.map((r) => r.orgId))] } }, select: { id: true, siteId: true } });
  return new Map(devices.map((d) => [d.id, d.siteId]));
}

/** A request outside the viewer's sites answers like an unknown one; the refusal is in its org's audit chain. */
async function refuseOutsideSites(system: Caller['system'], principal: Caller['principal'], row: Pick<TerminalSession, 'id' | 'orgId'>, what: string): Promise<never> {
  await audit(system, { orgId: row.orgId, actorType: 'user', actorId: principal.userId, action: 'terminal.view_refused', target: row.id, sessionId: row.id, data: { why: "the device is outside the viewer's sites", what } }).catch(() => undefined);
  throw AppError.notFound(what);
}

export async function listTerminals({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const rows = await deps.prisma.terminalSession.findMany({ where: { orgId: org.id }, orderBy: { createdAt: 'desc' }, take: 100, include: { recordings: { orderBy: { openedAt: 'asc' } } } });
  const siteOf = await sitesOf(deps, rows);
  const visible = rows.filter((r) => maySee(principal, r, siteOf));
  return { org, terminals: visible, names: await namesOf(deps, visible) };
}

export async function viewTerminal({ deps, system, principal }: Caller, id: string) {
  const row = await deps.prisma.terminalSession.findFirst({ where: { id }, include: { recordings: { orderBy: { openedAt: 'asc' } } } });
  if (!row) throw AppError.notFound('terminal');
  if (!maySee(principal, row, await sitesOf(deps, [row]))) {
    if (hasRole(principal, row.orgId, [Role.Approver, Role.Admin, Role.Auditor])) await refuseOutsideSites(system, principal, row, 'terminal');
    throw AppError.notFound('terminal');
  }
  return { row, names: await namesOf(deps, [row]) };
}

async function namesOf(deps: ApiDeps, rows: Pick<TerminalSession, 'deviceId' | 'requestedBy'>[]) {
  const [devices, users] = await Promise.all([
    deps.prisma.device.findMany({ where: { id: { in: rows.map((r) => r.deviceId) } }, select: { id: true, name: true } }),
    deps.prisma.user.findMany({ where: { id: { in: rows.map((r) => r.requestedBy) } }, select: { id: true, email: true } }),
  ]);
  return { devices: new Map(devices.map((d) => [d.id, d.name])), users: new Map(users.map((u) => [u.id, u.email])) };
}

/**
 * Ends an approved grant before its window (approvers and admins of the org, or the technician who asked): its
 * live terminals close at once on every api node, and its workflow stops waiting.
 */
export async function revokeTerminal({ deps, system, principal }: Caller, id: string, reason: string | undefined) {
  const row = await deps.prisma.terminalSession.findFirst({ where: { id } });
  const siteOf = row ? await sitesOf(deps, [row]) : new Map<string, string>();
  if (!row || !maySee(principal, row, siteOf)) {
    if (row && hasRole(principal, row.orgId, [Role.Approver, Role.Admin, Role.Auditor])) await refuseOutsideSites(system, principal, row, 'terminal');
    throw AppError.notFound('terminal');
  }
  if (row.requestedBy !== principal.userId && !maySee(principal, row, siteOf, [Role.Approver, Role.Admin])) {
    throw new AppError(AppErrorCode.Forbidden, "only an approver or an admin of the organization, or the technician who asked, can revoke a terminal's approval");
  }
  const now = new Date();
  const revoked = await system.terminalSession.updateMany({ where: { id, status: 'approved' }, data: { status: 'revoked', endedAt: now, endReason: 'revoked', endedBy: principal.userId } });
  if (revoked.count !== 1) throw new AppError(AppErrorCode.Conflict, `this terminal request is ${row.status}: only an approved one can be revoked`);
  await closeLiveTerminals(system, { terminalSessionId: id, reason: 'revoked' });
  await audit(system, { orgId: row.orgId, actorType: 'user', actorId: principal.userId, action: 'terminal.revoked', target: id, sessionId: id, data: { reason: reason ?? null } });
  await deps.temporal.workflow
    .getHandle(row.workflowId)
    .signal(terminalChangedSignal)
    .catch((err: unknown) => deps.logger.warn({ terminalId: id, err: (err as Error).message }, 'revoked; the terminal workflow will see it when its window ends'));
  return system.terminalSession.findUniqueOrThrow({ where: { id } });
}

/**
 * The kill switch's part (services/orgs.ts): every approved grant of the org ends, every live terminal closes at
 * once on every api node, and every terminal workflow is told (a pending request's approval is withdrawn).
 */
export async function pauseOrgTerminals(deps: ApiDeps, orgId: string): Promise<number> {
  const ended = await deps.prisma.terminalSession.updateMany({ where: { orgId, status: 'approved' }, data: { status: 'ended', endedAt: new Date(), endReason: 'paused' } });
  await closeLiveTerminals(deps.prisma, { orgId, reason: 'paused' });
  return ended.count;
}

/** The workflows of the org's open terminal requests, told of a pause with the same hint the sessions get. */
export async function terminalWorkflowsOf(deps: ApiDeps, orgId: string): Promise<string[]> {
  const rows = await deps.prisma.terminalSession.findMany({ where: { orgId, OR: [{ status: 'pending' }, { endReason: 'paused', endedAt: { gt: new Date(Date.now() - 60_000) } }] }, select: { workflowId: true } });
  return rows.map((r) => r.workflowId);
}

/** Recordings are for the org's auditors and admins, of devices on their sites. */
export async function listRecordings({ deps, principal }: Caller, orgRef: string) {
  const roles = [Role.Auditor, Role.Admin];
  const org = await findOrgFor(deps, principal, orgRef, roles);
  const reach = sitesWhere(principal, org.id, roles) === null ? {} : { deviceId: { in: (await deps.prisma.device.findMany({ where: siteReach(principal, org.id, roles), select: { id: true } })).map((d) => d.id) } };
  const recordings = await deps.prisma.terminalRecording.findMany({ where: { orgId: org.id, ...reach }, orderBy: { openedAt: 'desc' }, take: 200, include: { terminalSession: true } });
  const names = await namesOf(deps, recordings.map((r) => ({ deviceId: r.deviceId, requestedBy: r.userId })));
  return { org, recordings, names };
}

/** One recording's asciicast, reassembled from its chunks and checked against the SHA-256 sealed at its close. */
export async function recordingCast({ deps, system, principal }: Caller, id: string): Promise<{ recording: TerminalRecording; cast: Buffer; verified: boolean | null }> {
  const roles = [Role.Auditor, Role.Admin];
  const recording = await deps.prisma.terminalRecording.findFirst({ where: { id, orgId: { in: orgsWhere(principal, roles) } } });
  if (!recording) throw AppError.notFound('recording');
  // A shell on a device of another site is that site's: an auditor or admin narrowed elsewhere never plays it back.
  const asRequest = { id: recording.terminalSessionId, orgId: recording.orgId, deviceId: recording.deviceId, requestedBy: '' };
  if (!maySee(principal, asRequest, await sitesOf(deps, [asRequest]), roles)) await refuseOutsideSites(system, principal, asRequest, 'recording');
  const chunks = await deps.prisma.terminalRecordingChunk.findMany({ where: { recordingId: id }, orderBy: { seq: 'asc' }, select: { data: true } });
  const cast = Buffer.concat(chunks.map((c) => Buffer.from(c.data)));
  const verified = recording.sha256 ? crypto.createHash('sha256').update(cast).digest('hex') === recording.sha256 : null;
  return { recording, cast, verified };
}

/** The device and user names of one recording, for its view. */
export async function listRecordingNames({ deps }: Caller, recording: Pick<TerminalRecording, 'deviceId' | 'userId'>) {
  return namesOf(deps, [{ deviceId: recording.deviceId, requestedBy: recording.userId }]);
}
