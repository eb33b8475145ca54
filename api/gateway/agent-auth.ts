/**
 * Who may connect to `/agents`: a device credential checked on every connection (connection-state recovery
 * included; a known device presenting a wrong or revoked secret is refused and audited), and at most one live
 * connection per credential across the api nodes (a second one is a cloned image: refused and audited). When the
 * other nodes cannot be asked, the connection is refused too (fail closed).
 */
import type { ExtendedError } from 'socket.io';
import { AgentAuth } from '../../common/protocol';
import { audit } from '../../audit/log';
import { hashesEqual, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import type { AgentConnections, AgentNamespace, AgentSocket } from './agent-sockets';
import { deviceCredentialLoader } from './fleet-batches';
import { createPresence } from './presence';

/** How long a device's presence key outlives a node that stopped refreshing it (a crash). */
const PRESENCE_TTL_MS = 60_000;

export interface AgentAuthenticator {
  /** The namespace middleware. */
  middleware(socket: AgentSocket, next: (err?: ExtendedError) => void): Promise<void>;
  /** The device's connection here ended: its presence is let go (else it lapses after its TTL). */
  released(deviceId: string): void;
  close(): void;
}

export function createAgentAuth(nsp: AgentNamespace, deps: ApiDeps, connections: AgentConnections): AgentAuthenticator {
  const { prisma, logger } = deps;
  const credentialsOf = deviceCredentialLoader(deps.pool);
  const presence = createPresence(deps.redis, { namespace: deps.config.socketIoStream, ttlMs: PRESENCE_TTL_MS });
  // While connected, a device's key stays this node's; it lapses a TTL after a crash.
  const presenceTimer = setInterval(() => {
    presence.refresh(connections.deviceIds()).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not refresh agent presence in Redis'));
  }, PRESENCE_TTL_MS / 3);
  presenceTimer.unref();

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

  return {
    async middleware(socket, next) {
      // Runs on every connection, including recovered ones: no credential, no connection.
      try {
        const auth = AgentAuth.safeParse(socket.handshake.auth);
        if (!auth.success) return next(new Error('invalid agent credentials'));
        // Batched with the other connections of a few milliseconds (fleet-batches.ts), never cached.
        const device = await credentialsOf.load(auth.data.deviceId);
        if (!device) return next(new Error('invalid agent credentials'));
        // Against each of the device's own unrevoked credentials, in constant time: a batch shares the read, never the check.
        const hash = sha256(auth.data.secret);
        if (!device.credentials.some((c) => hashesEqual(c.hash, hash))) {
          // A known device with a wrong or revoked secret: refused, and on its org's record (an unknown device has no org).
          await audit(prisma, { orgId: device.orgId, actorType: 'agent', actorId: device.id, action: 'security.agent_credential_refused', target: device.name, data: { address: socket.handshake.address } });
          return next(new Error('invalid agent credentials'));
        }
        const elsewhere = Boolean(connections.live(device.id)) || (await heldElsewhere(device.id));
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
    },
    released(deviceId) {
      presence.release(deviceId).catch(() => undefined);
    },
    close() {
      clearInterval(presenceTimer);
    },
  };
}
