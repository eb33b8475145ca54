/**
 * The agent gateway: Socket.IO `/agents`. Authenticates every connection in middleware, delivers queued
 * commands, accepts results only from the device each command was sent to, and completes the waiting Temporal
 * activity. Frames that do not match the protocol are dropped and counted; the connection stays up.
 */
import { ActivityNotFoundError } from '@temporalio/client';
import type { Namespace, Socket } from 'socket.io';
import {
  AgentAuth,
  CommandResult,
  commandRunSeconds,
  PROTOCOL_VERSION,
  type CommandKind,
  type AgentToServerEvents,
  type CommandDispatch,
  type CommandResultAck,
  type ServerToAgentEvents,
} from '../../common/protocol';
import { audit } from '../../lib/audit';
import { hashesEqual, sha256 } from '../../lib/secrets';
import { sweptCommands, type ApiDeps } from '../deps';
import { signCommand } from '../../cage/command-signing';
import { publishSessionEvent } from '../../lib/session-events';
import type { CommandsNote } from '../../lib/pg-events';
import { CommandOutcome, isCommandOutcome, UNFINISHED_COMMAND } from '../../common/session';
import { executionTypeOf } from '../../common/tools';
import { endPausedCommands, recordResult, stalePending, takeForDelivery, type Deliverable, type Reportable } from '../../lib/device-commands';
import { createResultSignaller } from './remediation-results';
import { storeOutputChunk } from './command-output';
import { createPresence } from './presence';

interface AgentData {
  deviceId: string;
  orgId: string;
  name: string;
}
type AgentSocket = Socket<AgentToServerEvents, ServerToAgentEvents, Record<string, never>, AgentData>;
export type AgentNamespace = Namespace<AgentToServerEvents, ServerToAgentEvents, Record<string, never>, AgentData>;

/** What telling the waiting workflow of a command's result needs to know (`Reportable`), read through Prisma. */
const REPORTABLE = { id: true, deviceId: true, status: true, reportTo: true, reportedAt: true } as const;
const KNOWN_EVENTS = new Set(['command:result', 'command:output']);
/** The protocol's ceiling on a dispatch timeout, and the margin above a command's own kill timer. */
const MAX_DISPATCH_SECONDS = 3600;
const DISPATCH_GRACE_SECONDS = 30;
/** How long after a command's dispatch timeout its result may still be on its way (the agent's kill grace, the link). */
const RESULT_MARGIN_SECONDS = 30;
/** How long a device's presence key outlives a node that stopped refreshing it (a crash). */
const PRESENCE_TTL_MS = 60_000;

export interface AgentGateway {
  /** Delivers the queued commands whose devices are connected to this node. */
  deliver(commands: CommandsNote['commands']): Promise<void>;
  /** Expires overdue commands and completes activities whose result is stored but not yet reported. */
  sweep(): Promise<void>;
  stats(): { connected: number; invalidFrames: number; resultsAccepted: number; throttledFrames: number; floodDisconnects: number };
  close(): void;
}

export function createAgentGateway(nsp: AgentNamespace, deps: ApiDeps): AgentGateway {
  const { prisma, logger } = deps;
  const sockets = new Map<string, AgentSocket>();
  const counters = { invalidFrames: 0, resultsAccepted: 0, throttledFrames: 0, floodDisconnects: 0 };

  /**
   * Whether another api node holds a connection of this device (through the Socket.IO adapter's rooms); 'unknown'
   * when the nodes cannot be asked (Redis unreachable), which the caller treats as a refusal: a cloned credential
   * must not get in because the clone check could not run.
   */
  async function connectedElsewhere(deviceId: string): Promise<boolean | 'unknown'> {
    try {
      return (await nsp.in(`device:${deviceId}`).timeout(2000).fetchSockets()).length > 0;
    } catch (err) {
      logger.warn({ deviceId, err: (err as Error).message }, 'could not ask the other api nodes about this device; connection refused');
      return 'unknown';
    }
  }

  const presence = createPresence(deps.redis, { namespace: deps.config.socketIoStream, ttlMs: PRESENCE_TTL_MS });
  // While connected, a device's key stays this node's; it lapses a TTL after a crash.
  const presenceTimer = setInterval(() => {
    presence.refresh([...sockets.keys()]).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not refresh agent presence in Redis'));
  }, PRESENCE_TTL_MS / 3);
  presenceTimer.unref();

  /**
   * Whether another connection holds the device's credential: its presence key first (one Redis command); a key
   * found there may be a crashed node's, so the nodes are asked before this connection takes it over.
   */
  async function heldElsewhere(deviceId: string): Promise<boolean | 'unknown'> {
    try {
      if (await presence.claim(deviceId)) return false;
    } catch (err) {
      logger.warn({ deviceId, err: (err as Error).message }, 'could not claim agent presence in Redis; connection refused');
      return 'unknown';
    }
    const found = await connectedElsewhere(deviceId);
    if (found !== false) return found;
    try {
      await presence.takeOver(deviceId);
      return false;
    } catch {
      return 'unknown';
    }
  }

  nsp.use(async (socket, next) => {
    // Runs on every connection, including recovered ones: no credential, no connection.
    try {
      const auth = AgentAuth.safeParse(socket.handshake.auth);
      if (!auth.success) return next(new Error('invalid agent credentials'));
      const device = await prisma.device.findUnique({
        where: { id: auth.data.deviceId },
        include: { credentials: { where: { revokedAt: null } } },
      });
      const valid = device?.credentials.some((c) => hashesEqual(c.hash, sha256(auth.data.secret)));
      if (!device || !valid) return next(new Error('invalid agent credentials'));
      const elsewhere = sockets.get(device.id)?.connected || (await heldElsewhere(device.id));
      if (elsewhere === 'unknown') {
        await audit(prisma, { orgId: device.orgId, actorType: 'agent', actorId: device.id, action: 'security.agent_connection_unverified', target: device.name, data: { address: socket.handshake.address, reason: 'the api nodes could not be asked whether this device is already connected (Redis unreachable)' } });
        return next(new Error('cannot check now whether this device is already connected elsewhere; try again shortly'));
      }
      if (elsewhere) {
        await audit(prisma, { orgId: device.orgId, actorType: 'agent', actorId: device.id, action: 'security.duplicate_agent_connection', target: device.name, data: { address: socket.handshake.address } });
        return next(new Error('this device is already connected (a cloned credential?)'));
      }
      socket.data = { deviceId: device.id, orgId: device.orgId, name: device.name };
      next();
    } catch (err) {
      logger.error({ err }, 'agent authentication failed');
      next(new Error('authentication unavailable'));
    }
  });

  /** The frame's acknowledgement callback, if it asked for one (Socket.IO guards against a second call). */
  const replyTo = (ack: unknown) => (res: CommandResultAck) => {
    if (typeof ack === 'function') ack(res);
  };

  const drop = (socket: AgentSocket, event: string, reason: string) => {
    counters.invalidFrames += 1;
    logger.warn({ deviceId: socket.data.deviceId, event, reason }, 'dropped invalid agent frame');
    socket.emit('protocol:error', { v: PROTOCOL_VERSION, reason: `${event}: ${reason}`.slice(0, 500) });
  };

  /** Stores a chunk of a command's full output (./command-output.ts); a frame that does not parse is dropped and counted. */
  const onOutput = async (socket: AgentSocket, raw: unknown, reply: (res: CommandResultAck) => void) => {
    const outcome = await storeOutputChunk(deps, socket.data, raw);
    if (outcome.invalid) drop(socket, 'command:output', outcome.invalid);
    reply(outcome.ack);
  };

  // What the gateway needs to know about a command's tool invocation: the approval digest it signs into each
  // command, and for a remediation where to report progress. A remediation's hundreds of commands share one
  // invocation, and once its approval is decided (or when none was needed) none of this changes, so it is kept.
  interface Invocation {
    approvalDigest: string | null;
    remediation: { sessionId: string; turnId: string; tool: string; total: number } | null;
  }
  const invocations = new Map<string, Invocation>();
  const invocationOf = async (invocationId: string): Promise<Invocation> => {
    const known = invocations.get(invocationId);
    if (known) return known;
    const [inv, approval] = await Promise.all([
      prisma.toolInvocation.findUnique({ where: { id: invocationId }, select: { toolName: true, sessionId: true, turnId: true } }),
      prisma.approval.findUnique({ where: { invocationId }, select: { digest: true, status: true, targets: true } }),
    ]);
    const info: Invocation = {
      approvalDigest: approval?.status === 'approved' ? approval.digest : null,
      remediation: inv && executionTypeOf(inv.toolName) === 'remediation' && approval ? { sessionId: inv.sessionId, turnId: inv.turnId, tool: inv.toolName, total: (approval.targets as unknown[]).length } : null,
    };
    if (!approval || approval.status !== 'pending') {
      if (invocations.size > 10_000) invocations.clear();
      invocations.set(invocationId, info);
    }
    return info;
  };

  // Remediations report their progress to the session's watchers (console, CLI) as device results arrive: one
  // count at most every 500 ms per remediation, the last one shortly after the last result (off the result path).
  const PROGRESS_EVERY_MS = 500;
  const progressDue = new Map<string, NodeJS.Timeout>();
  const lastProgressAt = new Map<string, number>();
  const progressInFlight = new Map<string, Promise<void>>();
  const scheduleProgress = (invocationId: string): void => {
    if (progressDue.has(invocationId)) return;
    const wait = Math.max(0, PROGRESS_EVERY_MS - (Date.now() - (lastProgressAt.get(invocationId) ?? 0)));
    const timer = setTimeout(() => {
      progressDue.delete(invocationId);
      if (lastProgressAt.size > 10_000) lastProgressAt.clear();
      lastProgressAt.set(invocationId, Date.now());
      // One count in flight per remediation: a slow count finishing after a later one would go backwards.
      const previous = progressInFlight.get(invocationId) ?? Promise.resolve();
      const next = previous
        .then(() => publishProgress(invocationId))
        .catch((err: unknown) => logger.warn({ invocationId, err: (err as Error).message }, 'remediation progress not published'))
        .finally(() => {
          if (progressInFlight.get(invocationId) === next) progressInFlight.delete(invocationId);
        });
      progressInFlight.set(invocationId, next);
    }, wait);
    timer.unref();
    progressDue.set(invocationId, timer);
  };
  const publishProgress = async (invocationId: string): Promise<void> => {
    const r = (await invocationOf(invocationId)).remediation;
    if (!r) return;
    const rows = await prisma.deviceCommand.groupBy({ by: ['status'], where: { id: { startsWith: `${invocationId}:` }, status: { in: ['succeeded', 'failed', 'expired'] } }, _count: true });
    const count = (status: string) => rows.find((x) => x.status === status)?._count ?? 0;
    const progress = { total: r.total, succeeded: count('succeeded'), failed: count('failed') + count('expired') };
    await publishSessionEvent(prisma, {
      sessionId: r.sessionId,
      turnId: r.turnId,
      type: 'remediation:progress',
      tool: r.tool,
      invocationId,
      progress,
      text: `${progress.succeeded + progress.failed} of ${r.total} devices done: ${progress.succeeded} succeeded, ${progress.failed} failed`,
    });
  };

  const dispatchTimeoutSeconds = (kind: string, params: unknown): number =>
    Math.min(MAX_DISPATCH_SECONDS, Math.max(deps.config.commandTimeoutSeconds, commandRunSeconds(kind as CommandKind, (params ?? {}) as Record<string, unknown>) + DISPATCH_GRACE_SECONDS));

  /** Signs and sends one command; the caller records that it went out (the agent's journal makes a repeat harmless). */
  const send = async (socket: AgentSocket, cmd: Deliverable) => {
    // The command id is `<tool invocation id>:<device id>`; the invocation's approval, if it needed one, is signed too.
    const invocationId = cmd.id.slice(0, cmd.id.lastIndexOf(':'));
    const { approvalDigest } = await invocationOf(invocationId);
    const unsigned = {
      v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
      commandId: cmd.id,
      kind: cmd.kind as CommandDispatch['kind'],
      params: cmd.params as Record<string, unknown>,
      expiresAt: cmd.expiresAt.toISOString(),
      // Never shorter than the command's own kill timer (a library script's 300 s, apt's 1800 s): the agent kills
      // the process tree when this passes, and must not report TIMEOUT for a script it let keep running.
      timeoutSeconds: dispatchTimeoutSeconds(cmd.kind, cmd.params),
      approvalDigest,
    };
    const msg: CommandDispatch = { ...unsigned, signature: signCommand(deps.config.commandSigningKey, { ...unsigned, deviceId: cmd.deviceId }) };
    socket.emit('command:dispatch', msg);
  };
  const sendAll = async (commands: (Deliverable & { status: string })[]) => {
    for (const cmd of commands) {
      const socket = sockets.get(cmd.deviceId);
      if (socket?.connected) await send(socket, cmd);
    }
    const sent = commands.filter((c) => c.status === 'pending').map((c) => c.id);
    if (sent.length) await prisma.deviceCommand.updateMany({ where: { id: { in: sent }, status: 'pending' }, data: { status: 'delivered', deliveredAt: new Date() } });
  };

  // The workflow waiting for a result is told once it is recorded: a remediation by signal (batched), a single
  // command's activity by its task token.
  const signaller = createResultSignaller(deps);
  const report = async (cmd: Reportable) => {
    if (cmd.reportedAt || !isCommandOutcome(cmd.status)) return;
    if (cmd.reportTo) signaller.report(cmd.reportTo, cmd.id, cmd.status);
    else await completeActivity(cmd);
  };

  const completeActivity = async (cmd: Reportable & { taskToken?: Uint8Array | null }) => {
    const commandId = cmd.id;
    const taskToken = cmd.taskToken ?? (await prisma.deviceCommand.findUnique({ where: { id: commandId }, select: { taskToken: true } }))?.taskToken;
    if (!taskToken) return;
    try {
      await deps.temporal.activity.complete(new Uint8Array(taskToken), { commandId, status: cmd.status });
    } catch (err) {
      // Gone means the attempt timed out; its retry stores a new token and finds the stored result.
      if (!(err instanceof ActivityNotFoundError)) {
        logger.warn({ commandId, err: (err as Error).message }, 'could not complete the activity yet; the sweep retries');
        return;
      }
    }
    await prisma.deviceCommand.update({ where: { id: cmd.id }, data: { reportedAt: new Date() } });
  };

  /** Records a result from the device the command was sent to; anything else is refused and changes nothing. */
  const onResult = async (socket: AgentSocket, raw: unknown, reply: (res: CommandResultAck) => void) => {
    const parsed = CommandResult.safeParse(raw);
    if (!parsed.success) {
      drop(socket, 'command:result', parsed.error.issues[0]?.message ?? 'invalid');
      return reply({ accepted: false, reason: 'invalid frame' });
    }
    const msg = parsed.data;
    // Recorded only for the device the command was sent to, and only once.
    const recorded = await recordResult(deps.pool, {
      commandId: msg.commandId,
      deviceId: socket.data.deviceId,
      status: msg.ok ? 'succeeded' : 'failed',
      output: msg.ok && msg.output !== undefined ? JSON.stringify(msg.output) : null,
      errorCode: msg.ok ? null : (msg.error?.code ?? 'EXECUTION_FAILED'),
      startedAt: msg.startedAt,
      finishedAt: msg.finishedAt,
    });
    const cmd = recorded ?? (await prisma.deviceCommand.findUnique({ where: { id: msg.commandId }, select: REPORTABLE }));
    if (!cmd || cmd.deviceId !== socket.data.deviceId) {
      // Another device's command answers exactly as an unknown one (no oracle), and is flagged: a compromised or
      // cloned agent trying to complete commands it was never sent.
      if (cmd) {
        await audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: socket.data.deviceId, action: 'security.result_from_wrong_device', target: msg.commandId });
      }
      return reply({ accepted: false, reason: 'unknown command' });
    }
    counters.resultsAccepted += 1;
    reply({ accepted: true });
    if (!msg.ok && (msg.error?.code === 'APPROVAL_MISSING' || msg.error?.code === 'BAD_SIGNATURE')) {
      // The agent's own wall held: a command reached it that it would not run. Someone should look at why.
      await audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: socket.data.deviceId, action: 'security.command_refused_by_agent', target: msg.commandId, data: { code: msg.error.code } });
    }
    // The row just written (or, for a result already recorded, read again: it may not have been reported yet).
    await report(cmd);
    if (recorded) scheduleProgress(cmd.id.slice(0, cmd.id.lastIndexOf(':')));
  };

  nsp.on('connection', (socket: AgentSocket) => {
    const { deviceId } = socket.data;
    sockets.set(deviceId, socket);
    void socket.join(`device:${deviceId}`);
    logger.info({ deviceId, name: socket.data.name }, 'agent connected');
    void prisma.device.update({ where: { id: deviceId }, data: { online: true, lastSeenAt: new Date() } }).catch(() => undefined);

    // Per-agent frame limits (Redis sliding windows): chunks of full output have their own, larger one, so a
    // command's 64 uploads of 256 KiB do not crowd out its results. Excess frames are dropped and counted; an agent
    // that keeps sending past twice its limit within a window is disconnected and flagged. Redis down: frames are
    // dropped.
    const limits = { frames: deps.config.guards.rates.agentMessages, output: deps.config.guards.rates.agentOutputChunks };
    let refused = { count: 0, since: Date.now() };
    socket.use(([event], next) => {
      const kind = event === 'command:output' ? 'output' : 'frames';
      const limit = limits[kind];
      deps.limiter.hit(`agent:${deviceId}:${kind}`, limit).then(
        (r) => {
          if (r.allowed) return next();
          counters.throttledFrames += 1;
          if (Date.now() - refused.since > limit.windowMs) refused = { count: 0, since: Date.now() };
          refused.count += 1;
          if (refused.count > limit.max && socket.connected) {
            counters.floodDisconnects += 1;
            logger.warn({ deviceId }, 'agent flooding the gateway; disconnected');
            void audit(prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: deviceId, action: 'security.agent_flood', target: socket.data.name }).catch(() => undefined);
            socket.disconnect(true);
          }
          next(new Error('rate limited'));
        },
        () => {
          counters.throttledFrames += 1;
          next(new Error('rate limit store unavailable'));
        },
      );
    });
    // Behind the limit: an event the protocol does not have is dropped, counted, and answered if it asked to be.
    socket.use(([event, ...args], next) => {
      if (KNOWN_EVENTS.has(event)) return next();
      drop(socket, String(event).slice(0, 50), 'unknown event');
      replyTo(args.at(-1))({ accepted: false, reason: 'unknown event' });
      next(new Error('unknown event'));
    });
    socket.on('error', () => undefined); // refusals from the middlewares above; already counted
    socket.on('command:output', (raw: unknown, ack: unknown) => void onOutput(socket, raw, replyTo(ack)));
    socket.on('command:result', (raw: unknown, ack: unknown) => {
      const reply = replyTo(ack);
      onResult(socket, raw, reply).catch((err: unknown) => {
        logger.error({ err, deviceId }, 'failed to record a command result');
        // Not recorded (the database refused or is away): the agent keeps the result and sends it again.
        reply({ accepted: false, reason: 'not recorded; send it again later' });
      });
    });
    socket.on('disconnect', () => {
      if (sockets.get(deviceId) === socket) {
        sockets.delete(deviceId);
        presence.release(deviceId).catch(() => undefined); // else it lapses after its TTL
      }
      void prisma.device.update({ where: { id: deviceId }, data: { online: false, lastSeenAt: new Date() } }).catch(() => undefined);
    });

    // Commands queued while the device was away; none while its org is paused (the kill switch holds on reconnect,
    // for delivered-but-unanswered commands too: a resend would run one the agent never received).
    void prisma.deviceCommand
      .findMany({ where: { deviceId, status: { in: UNFINISHED_COMMAND }, expiresAt: { gt: new Date() }, device: { org: { copilotPausedAt: null } } }, orderBy: { createdAt: 'asc' } })
      .then(sendAll)
      .catch((err: unknown) => logger.error({ err, deviceId }, 'failed to deliver queued commands'));
  });

  // The activities waiting on commands complete asynchronously, so nothing in the worker heartbeats them: the api
  // does, by task token. An activity whose worker died before it queued its command gets no heartbeat, times out
  // (heartbeat timeout in workflows/activities.ts) and is retried at once instead of after its 20-minute limit.
  const HEARTBEAT_EVERY_MS = 10_000;
  const lastHeartbeat = new Map<string, number>();
  async function heartbeatWaiting(now: Date): Promise<void> {
    const waiting = await prisma.deviceCommand.findMany({
      where: { status: { in: UNFINISHED_COMMAND }, reportedAt: null, taskToken: { not: null }, ...sweptCommands(deps) },
      select: { id: true, taskToken: true },
      take: 1000,
    });
    const live = new Set(waiting.map((c) => c.id));
    for (const id of lastHeartbeat.keys()) if (!live.has(id)) lastHeartbeat.delete(id);
    for (const cmd of waiting) {
      if (now.getTime() - (lastHeartbeat.get(cmd.id) ?? 0) < HEARTBEAT_EVERY_MS) continue;
      lastHeartbeat.set(cmd.id, now.getTime());
      // A dead token (the attempt already timed out and was retried) is expected: the new attempt stores its own.
      await deps.temporal.activity.heartbeat(new Uint8Array(cmd.taskToken!)).catch(() => undefined);
    }
  }

  // A command normally goes out when its NOTIFY arrives. A notification can be lost (a worker killed between
  // writing the command and announcing it, an api restarting): pending commands of agents connected here that are
  // a few seconds old are sent again. The agent's journal makes a second delivery harmless.
  async function redeliverStale(): Promise<void> {
    const connected = [...sockets.entries()].filter(([, s]) => s.connected).map(([id]) => id);
    if (!connected.length) return;
    await sendAll(await stalePending(deps.pool, connected, 3000, 200));
  }

  return {
    async deliver(commands) {
      // The note says which device each command is for; the row says it with authority.
      const here = commands.filter((c) => sockets.get(c.deviceId)?.connected).map((c) => c.commandId);
      if (!here.length) return;
      // Marked delivered as they are taken (one statement): should a connection drop in between, the agent gets its
      // delivered commands again when it reconnects.
      const taken = await takeForDelivery(deps.pool, here);
      for (const cmd of taken) {
        const socket = sockets.get(cmd.deviceId);
        if (socket?.connected) await send(socket, cmd);
      }
    },
    async sweep() {
      const now = new Date();
      await prisma.deviceCommand.updateMany({
        where: { status: 'pending', expiresAt: { lte: now } },
        data: { status: 'expired', errorCode: 'DEVICE_OFFLINE', completedAt: now },
      });
      // A delivered command times out once its TTL has passed and the agent has had its whole dispatch timeout
      // (and a margin for the result) since delivery: before that it may still be running, and calling it TIMEOUT
      // would tell the session it stopped while it runs on (and drop the result it then sends).
      const overdue = await prisma.deviceCommand.findMany({
        where: { status: 'delivered', expiresAt: { lte: now } },
        select: { id: true, kind: true, params: true, deliveredAt: true },
        orderBy: { expiresAt: 'asc' },
        take: 1000,
      });
      const timedOut = overdue
        .filter((c) => !c.deliveredAt || now.getTime() >= c.deliveredAt.getTime() + (dispatchTimeoutSeconds(c.kind, c.params) + RESULT_MARGIN_SECONDS) * 1000)
        .map((c) => c.id);
      if (timedOut.length) {
        await prisma.deviceCommand.updateMany({ where: { id: { in: timedOut }, status: 'delivered' }, data: { status: 'failed', errorCode: 'TIMEOUT', completedAt: now } });
      }
      // The pause ends its org's unsent commands at once (api/routes/orgs.ts); this catches one queued while the
      // pause was committing. Reported just below, like any other outcome.
      const stopped = await endPausedCommands(deps.pool);
      for (const orgId of new Set(stopped.map((c) => c.orgId))) {
        const ids = stopped.filter((c) => c.orgId === orgId).map((c) => c.id);
        await audit(prisma, { orgId, actorType: 'system', action: 'command.denied', target: `${ids.length} commands`, data: { rule: 'paused', commandIds: ids.slice(0, 100) } });
      }
      const unreported = await prisma.deviceCommand.findMany({
        where: { status: { in: CommandOutcome.options }, reportedAt: null, OR: [{ taskToken: { not: null } }, { reportTo: { not: null } }], ...sweptCommands(deps) },
        select: { ...REPORTABLE, taskToken: true },
        take: 200,
      });
      for (const cmd of unreported) await report(cmd);
      await heartbeatWaiting(now);
      await redeliverStale();
    },
    stats: () => ({ connected: sockets.size, ...counters }),
    close() {
      clearInterval(presenceTimer);
      for (const timer of progressDue.values()) clearTimeout(timer);
      for (const socket of sockets.values()) socket.disconnect(true);
    },
  };
}
