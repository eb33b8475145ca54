/**
 * Socket.IO `/terminal`: a technician's browser (or a bench client) opens one approved terminal per connection.
 * Authenticated like `/console` (an API key in `auth.token`, or the signed-in web session's cookie from our own
 * pages). Opening is checked against the database every time: the grant must be this org's, this technician's,
 * approved, inside its window, the org not paused, the device's agent connected here, and the device below its
 * limit of open terminals; anything else is refused with a reason and audited (another org's terminal reads as an
 * unknown one, and that org's audit chain hears of the attempt).
 *
 * The agent's side of each terminal arrives on `/agents` (`terminal:output`, `terminal:exit`): routed here by the
 * recording id, and only from the device the terminal is on. Live terminals close at once when an api node hears
 * on PostgreSQL that their grant ended (window, revoke) or their org was paused.
 */
import type { Namespace, Socket } from 'socket.io';
import {
  AgentTerminalExit,
  AgentTerminalOutput,
  TERMINAL_CLIENT_EVENTS,
  TERMINAL_INPUT_BUFFER,
  TerminalEnd,
  TerminalInput,
  TerminalOpen,
  TerminalResize,
  type FrameAck,
  type TerminalClientEvents,
  type TerminalOpenAck,
  type TerminalServerEvents,
} from '../../common/terminal-protocol';
import { audit } from '../../audit/log';
import type { TerminalsNote } from '../../lib/pg-events';
import type { ApiDeps } from '../deps';
import { hasRole, orgsWhere, Role, sitesWhere, type Principal } from '../http/access';
import { browserPrincipal } from './browser-auth';
import type { AgentSocket } from './agent-sockets';
import { TerminalRecorder } from './terminal-recorder';
import { TerminalRelay } from './terminal-relay';

/**
 * What a connection holds: its principal, its terminal once the open is checked, and until then what the browser
 * sent early (input and resizes, in order, bounded like the relay's own queue), handed to the relay when it exists.
 */
interface TerminalSocketData {
  principal: Principal;
  relay?: TerminalRelay;
  early?: { items: ({ kind: 'input'; data: string } | { kind: 'resize'; cols: number; rows: number })[]; bytes: number };
}
type TerminalSocket = Socket<TerminalClientEvents, TerminalServerEvents, Record<string, never>, TerminalSocketData>;
export type TerminalNamespace = Namespace<TerminalClientEvents, TerminalServerEvents, Record<string, never>, TerminalSocketData>;

/** The roles that may ask for a terminal (services/terminals.ts requestTerminal), and so open one. */
const ACTING = [Role.Technician, Role.Admin];

const ONE_PER_CONNECTION = 'this connection already has a terminal; open another connection';

export interface TerminalLimits {
  maxPerDevice: number;
  idleSeconds: number;
  recordingMaxBytes: number;
}

export interface TerminalGateway {
  /** `/agents` frames of the terminal protocol, from a connected device. */
  onAgentOutput(agent: AgentSocket, raw: unknown, ack: (a: FrameAck) => void): void;
  onAgentExit(agent: AgentSocket, raw: unknown): void;
  /** A device's connection to this node dropped: its terminals end. */
  agentGone(deviceId: string): void;
  /** A grant ended or an org was paused (heard on PostgreSQL): their live terminals close now. */
  close(note: TerminalsNote): void;
  /** The live terminals of this node. */
  live(): TerminalRelay[];
  shutdown(): void;
}

export function createTerminalGateway(nsp: TerminalNamespace, deps: ApiDeps, agentOf: (deviceId: string) => AgentSocket | undefined, limits: TerminalLimits): TerminalGateway {
  const relays = new Map<string, TerminalRelay>();
  const { prisma, logger } = deps;

  nsp.use(async (socket, next) => {
    const principal = await browserPrincipal(deps, socket.handshake.auth?.token, socket.request).catch(() => null);
    if (!principal) return next(new Error('a valid API key is required'));
    socket.data = { principal };
    next();
  });

  const refuse = async (principal: Principal, orgId: string | null, terminalId: string, why: string): Promise<TerminalOpenAck> => {
    await audit(prisma, { orgId, actorType: 'user', actorId: principal.userId, action: 'terminal.refused', target: terminalId, sessionId: orgId ? terminalId : null, data: { why } }).catch(() => undefined);
    return { ok: false, error: why };
  };

  async function open(socket: TerminalSocket, raw: unknown): Promise<TerminalOpenAck> {
    const msg = TerminalOpen.safeParse(raw);
    if (!msg.success) return { ok: false, error: 'invalid terminal:open frame' };
    if (socket.data.relay || socket.data.early) return { ok: false, error: ONE_PER_CONNECTION };
    socket.data.early = { items: [], bytes: 0 };
    const { principal } = socket.data;
    const { terminalId, cols, rows } = msg.data;
    const grant = await prisma.terminalSession.findFirst({ where: { id: terminalId, orgId: { in: orgsWhere(principal) } } });
    if (!grant) {
      // Another org's terminal answers like an unknown one; its org's chain hears of the attempt.
      const foreign = await prisma.terminalSession.findUnique({ where: { id: terminalId }, select: { orgId: true } });
      if (foreign) {
        await audit(prisma, { orgId: foreign.orgId, actorType: 'user', actorId: principal.userId, action: 'security.cross_tenant_access', target: 'TerminalSession', data: { via: '/terminal', email: principal.email } }).catch(() => undefined);
      }
      return { ok: false, error: 'terminal not found' };
    }
    if (grant.requestedBy !== principal.userId) return refuse(principal, grant.orgId, terminalId, 'only the technician who asked for this terminal can open it');
    if (grant.status === 'pending') return refuse(principal, grant.orgId, terminalId, 'this terminal is still waiting for an approver');
    if (grant.status !== 'approved' || !grant.windowEndsAt) return refuse(principal, grant.orgId, terminalId, `this terminal request is ${grant.status}; ask again`);
    if (grant.windowEndsAt.getTime() <= Date.now()) return refuse(principal, grant.orgId, terminalId, "this terminal's approval window has ended; ask again");
    const [org, device, approval, user] = await Promise.all([
      prisma.organization.findUniqueOrThrow({ where: { id: grant.orgId }, select: { copilotPausedAt: true } }),
      prisma.device.findUniqueOrThrow({ where: { id: grant.deviceId }, select: { id: true, name: true, siteId: true } }),
      grant.approvalId ? prisma.approval.findUnique({ where: { id: grant.approvalId }, select: { digest: true, status: true } }) : null,
      prisma.user.findUniqueOrThrow({ where: { id: principal.userId }, select: { email: true } }),
    ]);
    if (org.copilotPausedAt) return refuse(principal, grant.orgId, terminalId, 'an admin paused the copilot for this organization (kill switch)');
    // The roles as they are now, not as they were when the terminal was asked for: a technician whose role was
    // removed, or narrowed to sites that no longer include the device, opens no shell on it.
    const sites = sitesWhere(principal, grant.orgId, ACTING);
    if (!hasRole(principal, grant.orgId, ACTING) || (sites !== null && !sites.includes(device.siteId))) {
      return refuse(principal, grant.orgId, terminalId, 'you no longer hold a technician or admin role that reaches this device');
    }
    if (!approval || approval.status !== 'approved') return refuse(principal, grant.orgId, terminalId, 'this terminal has no approval');
    const agent = agentOf(grant.deviceId);
    if (!agent) return refuse(principal, grant.orgId, terminalId, `${device.name} is offline (or connected to another api node)`);
    const open = [...relays.values()].filter((r) => r.deviceId === grant.deviceId).length;
    if (open >= limits.maxPerDevice) return refuse(principal, grant.orgId, terminalId, `${device.name} already has ${limits.maxPerDevice} open terminals`);

    const recording = await prisma.terminalRecording.create({ data: { orgId: grant.orgId, terminalSessionId: grant.id, deviceId: grant.deviceId, userId: principal.userId, cols, rows } });
    const recorder = new TerminalRecorder(prisma, logger, { id: recording.id, orgId: grant.orgId, terminalSessionId: grant.id, deviceName: device.name, userEmail: user.email, cols, rows }, limits.recordingMaxBytes);
    const relay = new TerminalRelay(recording.id, grant.id, grant.orgId, grant.deviceId, principal.userId, grant.windowEndsAt, socket, agent, recorder, hooks(device.name), { cols, rows });
    relays.set(relay.id, relay);
    // The org and the grant were read before the relay was registered: a pause (or revoke) that committed since sent
    // its close note to no relay of this one. Registered now, it hears any later note; one that came between is read
    // here, and the terminal never reaches the device.
    const [orgNow, grantNow] = await Promise.all([
      prisma.organization.findUnique({ where: { id: grant.orgId }, select: { copilotPausedAt: true } }),
      prisma.terminalSession.findUnique({ where: { id: grant.id }, select: { status: true } }),
    ]).catch(() => [null, null] as const);
    if (!orgNow || orgNow.copilotPausedAt || grantNow?.status !== 'approved') {
      const paused = !orgNow || orgNow.copilotPausedAt !== null;
      relay.kill(paused ? TerminalEnd.Paused : TerminalEnd.Revoked);
      socket.data.early = undefined;
      return { ok: false, error: paused ? 'an admin paused the copilot for this organization (kill switch)' : 'this terminal request ended while it was opening; ask again' };
    }
    socket.data.relay = relay;
    for (const item of socket.data.early?.items ?? []) {
      if (item.kind === 'input') relay.input(item.data);
      else relay.resize(item.cols, item.rows);
    }
    socket.data.early = undefined;
    relay.start(deps.config.commandSigningKey, { approvalDigest: approval.digest, idleSeconds: limits.idleSeconds });
    return { ok: true, recordingId: recording.id };
  }

  // A terminal's events reach the audit chain in the order they happened: one write at a time per terminal.
  const auditing = new Map<string, Promise<unknown>>();
  const inOrder = (relay: TerminalRelay, write: () => Promise<unknown>): Promise<unknown> => {
    const next = (auditing.get(relay.id) ?? Promise.resolve()).then(write).catch((err: unknown) => logger.error({ recordingId: relay.id, err: (err as Error).message }, 'a terminal audit event was not written'));
    auditing.set(relay.id, next);
    return next;
  };

  const hooks = (deviceName: string) => ({
    opened(relay: TerminalRelay) {
      void prisma.terminalRecording.update({ where: { id: relay.id }, data: { connectedAt: new Date() } }).catch(() => undefined);
      void inOrder(relay, () => audit(prisma, { orgId: relay.orgId, actorType: 'user', actorId: relay.userId, action: 'terminal.opened', target: relay.id, sessionId: relay.terminalSessionId, data: { device: deviceName, cols: relay.cols, rows: relay.rows } }));
    },
    resized(relay: TerminalRelay, cols: number, rows: number) {
      void inOrder(relay, () => audit(prisma, { orgId: relay.orgId, actorType: 'user', actorId: relay.userId, action: 'terminal.resized', target: relay.id, sessionId: relay.terminalSessionId, data: { cols, rows } }));
    },
    ended(relay: TerminalRelay, end: { reason: TerminalEnd; exitCode: number | null; byCage: boolean }) {
      relays.delete(relay.id);
      void inOrder(relay, async () => {
        await relay.inputSettled();
        const sealed = await relay.recorder.finish({ reason: end.reason, exitCode: end.exitCode });
        await audit(prisma, {
          orgId: relay.orgId,
          actorType: end.byCage ? 'system' : 'user',
          actorId: end.byCage ? null : relay.userId,
          action: end.byCage ? 'terminal.killed' : 'terminal.closed',
          target: relay.id,
          sessionId: relay.terminalSessionId,
          data: { reason: end.reason, exitCode: end.exitCode, device: deviceName, sha256: sealed.sha256 },
        });
      }).finally(() => auditing.delete(relay.id));
    },
  });

  /** Before the open is checked: held in order, within the same bound as the relay's queue. */
  function holdEarly(socket: TerminalSocket, item: NonNullable<TerminalSocketData['early']>['items'][number]): boolean {
    const early = socket.data.early!;
    const size = item.kind === 'input' ? Buffer.byteLength(item.data) : 0;
    if (early.bytes + size > TERMINAL_INPUT_BUFFER) return false;
    early.items.push(item);
    early.bytes += size;
    return true;
  }

  nsp.on('connection', (socket: TerminalSocket) => {
    socket.use(([event, ...args], next) => {
      if (TERMINAL_CLIENT_EVENTS.has(event)) return next();
      const ack = args.at(-1);
      if (typeof ack === 'function') ack({ ok: false, error: 'unknown event' });
      next(new Error('unknown event'));
    });
    socket.on('error', () => undefined);
    socket.on('terminal:open', (raw: unknown, ack: unknown) => {
      const reply = (a: TerminalOpenAck) => typeof ack === 'function' && ack(a);
      open(socket, raw).then(
        (answer) => {
          // Refused: what was sent early goes nowhere (unless it belongs to the connection's first open).
          if (!answer.ok && answer.error !== ONE_PER_CONNECTION) socket.data.early = undefined;
          reply(answer);
        },
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'could not open a terminal');
          socket.data.early = undefined;
          reply({ ok: false, error: 'the terminal could not be opened; try again' });
        },
      );
    });
    socket.on('terminal:input', (raw: unknown, ack: unknown) => {
      const msg = TerminalInput.safeParse(raw);
      let taken = false;
      if (msg.success && socket.data.relay) taken = socket.data.relay.input(msg.data.data);
      else if (msg.success && socket.data.early) taken = holdEarly(socket, { kind: 'input', data: msg.data.data });
      if (typeof ack === 'function') ack({ ok: taken });
    });
    socket.on('terminal:resize', (raw: unknown) => {
      const msg = TerminalResize.safeParse(raw);
      if (!msg.success) return;
      if (socket.data.relay) socket.data.relay.resize(msg.data.cols, msg.data.rows);
      else if (socket.data.early) holdEarly(socket, { kind: 'resize', cols: msg.data.cols, rows: msg.data.rows });
    });
    socket.on('terminal:close', () => socket.data.relay?.close(TerminalEnd.ClosedByUser));
    socket.on('disconnect', () => socket.data.relay?.close(TerminalEnd.Disconnected));
  });

  return {
    onAgentOutput(agent, raw, ack) {
      const msg = AgentTerminalOutput.safeParse(raw);
      const relay = msg.success ? relays.get(msg.data.id) : undefined;
      // Only the terminal's own device may write to it.
      if (!msg.success || !relay || relay.deviceId !== agent.data.deviceId) return ack({ ok: false });
      relay.output(msg.data.data, ack);
    },
    onAgentExit(agent, raw) {
      const msg = AgentTerminalExit.safeParse(raw);
      const relay = msg.success ? relays.get(msg.data.id) : undefined;
      if (msg.success && relay && relay.deviceId === agent.data.deviceId) relay.exited(msg.data.reason, msg.data.exitCode);
    },
    agentGone(deviceId) {
      for (const relay of relays.values()) if (relay.deviceId === deviceId) relay.agentGone();
    },
    close(note) {
      const reason = note.reason === 'paused' ? TerminalEnd.Paused : note.reason === 'revoked' ? TerminalEnd.Revoked : TerminalEnd.Window;
      for (const relay of [...relays.values()]) {
        if ((note.terminalSessionId && relay.terminalSessionId === note.terminalSessionId) || (note.orgId && relay.orgId === note.orgId)) relay.kill(reason);
      }
    },
    live: () => [...relays.values()],
    shutdown() {
      for (const relay of [...relays.values()]) relay.kill(TerminalEnd.AgentGone);
    },
  };
}
