/**
 * The gateway's per-connection database work, batched across connections. When an api node restarts, its whole
 * fleet reconnects within seconds; one query per agent for each step (its credential, the commands queued for it,
 * its online flag) would be tens of thousands of queries at once on PostgreSQL, a thundering herd behind the pool.
 * Here each step is one query per batch: DataLoader collects the connections of BATCH_WINDOW_MS (a lone connection
 * waits that long at most), and presence writes are coalesced per device, the newest state winning.
 *
 * Nothing is cached between batches: a credential revoked a moment ago is refused on the next connection.
 */
import DataLoader from 'dataloader';
import type { DeviceCommand } from '@prisma/client';
import { UNFINISHED_COMMAND } from '../../common/session';
import type { ApiDeps } from '../deps';

/** How long a batch collects connections before its query runs. */
const BATCH_WINDOW_MS = 5;
/** How long a batch that could not be written waits before it is tried again. */
const RETRY_MS = 1000;
/** At most this many devices in one query (an `IN` list or an array parameter). */
const MAX_BATCH = 500;

const batched = { cache: false, maxBatchSize: MAX_BATCH, batchScheduleFn: (run: () => void) => setTimeout(run, BATCH_WINDOW_MS) } as const;

/** A device with its unrevoked credentials, as the credential check needs it; null for an unknown device. */
export function deviceCredentialLoader(prisma: ApiDeps['prisma']) {
  return new DataLoader(async (ids: readonly string[]) => {
    const devices = await prisma.device.findMany({ where: { id: { in: [...ids] } }, include: { credentials: { where: { revokedAt: null } } } });
    const byId = new Map(devices.map((d) => [d.id, d]));
    return ids.map((id) => byId.get(id) ?? null);
  }, batched);
}

/**
 * The unfinished, unexpired commands of a device, oldest first; none while its org is paused (the kill switch holds
 * on reconnect, for delivered-but-unanswered commands too: a resend would run one the agent never received).
 */
export function queuedCommandLoader(prisma: ApiDeps['prisma']) {
  return new DataLoader(async (deviceIds: readonly string[]) => {
    const rows = await prisma.deviceCommand.findMany({
      where: { deviceId: { in: [...deviceIds] }, status: { in: UNFINISHED_COMMAND }, expiresAt: { gt: new Date() }, device: { org: { copilotPausedAt: null } } },
      orderBy: { createdAt: 'asc' },
    });
    const byDevice = new Map<string, DeviceCommand[]>();
    for (const row of rows) byDevice.set(row.deviceId, [...(byDevice.get(row.deviceId) ?? []), row]);
    return deviceIds.map((id) => byDevice.get(id) ?? []);
  }, batched);
}

/**
 * The devices' online flags and last-seen times, written in batches. A device that connects and drops within one
 * window is written once, as it ended; batches are written one after another, so an older state never overwrites a
 * newer one. The flag is more than a display: a read of a device marked offline is answered from what is known
 * instead of asking it (docs/agents-and-commands.md). So a batch that could not be written is logged and tried
 * again a second later, its devices' states kept unless a newer one arrived meanwhile.
 */
export class PresenceWriter {
  private pending = new Map<string, { online: boolean; at: Date }>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: Pick<ApiDeps, 'pool' | 'logger'>) {}

  mark(deviceId: string, online: boolean): void {
    this.pending.set(deviceId, { online, at: new Date() });
    this.timer ??= setTimeout(() => void this.flush(), BATCH_WINDOW_MS);
  }

  /** At shutdown: writes what is pending once, without retrying (the pool is about to close). */
  close(): Promise<void> {
    this.closed = true;
    return this.flush();
  }

  /** Writes what is pending now; resolves when it and every earlier batch are written. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending];
    this.pending = new Map();
    this.writing = this.writing.then(async () => {
      for (let i = 0; i < batch.length; i += MAX_BATCH) {
        const part = batch.slice(i, i + MAX_BATCH);
        await this.deps.pool
          .query('UPDATE "Device" d SET online = v.online, "lastSeenAt" = v.at FROM unnest($1::uuid[], $2::bool[], $3::timestamptz[]) AS v(id, online, at) WHERE d.id = v.id', [
            part.map(([id]) => id),
            part.map(([, s]) => s.online),
            part.map(([, s]) => s.at),
          ])
          .catch((err: unknown) => {
            this.deps.logger.warn({ err: (err as Error).message, devices: part.length }, "could not write agents' online flags; trying again");
            if (this.closed) return;
            for (const [id, state] of part) if (!this.pending.has(id)) this.pending.set(id, state);
            this.timer ??= setTimeout(() => void this.flush(), RETRY_MS);
          });
      }
    });
    return this.writing;
  }
}
