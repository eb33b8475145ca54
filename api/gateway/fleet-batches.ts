/**
 * The gateway's per-connection database work, batched across connections. When an api node restarts, its whole
 * fleet reconnects within seconds; one query per agent for each step (its credential, the commands queued for it,
 * its online flag) would be tens of thousands of queries at once on PostgreSQL, a thundering herd behind the pool.
 * Here each step is one statement per batch, in plain SQL through `pg` (through Prisma each cost its query compiler
 * about a millisecond of the api's one thread, more than the statement itself: lib/device-commands.ts). DataLoader
 * collects the connections of BATCH_WINDOW_MS (a lone connection waits that long at most), and a batch that is
 * ready while the one before it is still in the database waits for it and keeps collecting meanwhile: a herd makes
 * few large batches instead of many small ones (a thousand agents a second in 5 ms windows made 200 statements a
 * second for each step). Presence writes are coalesced per device, the newest state winning.
 *
 * Nothing is cached between batches: a credential revoked a moment ago is refused on the next connection.
 */
import DataLoader from 'dataloader';
import type { Pool } from 'pg';
import { queuedFor } from '../../lib/device-commands';
import type { ApiDeps } from '../deps';

/** How long a batch collects connections before its query runs. */
const BATCH_WINDOW_MS = 5;
/** A batch waits at most this long for the one before it (a statement stuck in the database holds the next back only so long). */
const MAX_WAIT_FOR_PREVIOUS_MS = 1000;
/** How long a batch that could not be written waits before it is tried again. */
const RETRY_MS = 1000;
/** At most this many devices in one statement (an array parameter). */
const MAX_BATCH = 500;

/**
 * DataLoader options for a step: no cache, at most MAX_BATCH keys, and a batch dispatched BATCH_WINDOW_MS after its
 * first key, or once the previous batch of the same step has come back from the database, whichever is later.
 */
function oneBatchAtATime<K, V>(load: (keys: readonly K[]) => Promise<V[]>): DataLoader<K, V> {
  let previous: Promise<unknown> = Promise.resolve();
  return new DataLoader<K, V>(
    (keys) => {
      const done = load(keys);
      previous = done.catch(() => undefined);
      return done;
    },
    {
      cache: false,
      maxBatchSize: MAX_BATCH,
      batchScheduleFn: (run) => {
        setTimeout(() => {
          const waited = previous;
          let timer: NodeJS.Timeout | undefined;
          void Promise.race([waited, new Promise((r) => (timer = setTimeout(r, MAX_WAIT_FOR_PREVIOUS_MS)))]).then(() => {
            clearTimeout(timer);
            run();
          });
        }, BATCH_WINDOW_MS);
      },
    },
  );
}

/** A device as the credential check needs it: its org, its name and the hashes of its unrevoked credentials. */
export interface DeviceWithCredentials {
  id: string;
  orgId: string;
  name: string;
  credentials: { hash: string }[];
}

/** A device with its unrevoked credentials; null for an unknown device. */
export function deviceCredentialLoader(pool: Pool): DataLoader<string, DeviceWithCredentials | null> {
  return oneBatchAtATime(async (ids: readonly string[]) => {
    const { rows } = await pool.query<{ id: string; orgId: string; name: string; hash: string | null }>({
      name: 'fleet-batches.device-credentials',
      text: `SELECT d."id"::text AS "id", d."orgId"::text AS "orgId", d."name", c."hash"
             FROM "Device" d LEFT JOIN "DeviceCredential" c ON c."deviceId" = d."id" AND c."revokedAt" IS NULL
             WHERE d."id" = ANY($1::uuid[])`,
      values: [ids],
    });
    const byId = new Map<string, DeviceWithCredentials>();
    for (const row of rows) {
      const device = byId.get(row.id) ?? { id: row.id, orgId: row.orgId, name: row.name, credentials: [] };
      if (row.hash !== null) device.credentials.push({ hash: row.hash });
      byId.set(row.id, device);
    }
    return ids.map((id) => byId.get(id) ?? null);
  });
}

/**
 * The unfinished, unexpired commands of a device, oldest first; none while its org is paused (the kill switch holds
 * on reconnect, for delivered-but-unanswered commands too: a resend would run one the agent never received).
 */
export function queuedCommandLoader(pool: Pool) {
  return oneBatchAtATime(async (deviceIds: readonly string[]) => {
    const rows = await queuedFor(pool, deviceIds);
    const byDevice = new Map<string, typeof rows>();
    for (const row of rows) byDevice.set(row.deviceId, [...(byDevice.get(row.deviceId) ?? []), row]);
    return deviceIds.map((id) => byDevice.get(id) ?? []);
  });
}

/**
 * The devices' online flags and last-seen times, written in batches. A device that connects and drops within one
 * window is written once, as it ended; batches are written one after another (the next one cut when the one before
 * it is written, so a herd's flags go in a few large statements), so an older state never overwrites a
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
    // Cut once the batch before it is written: meanwhile this one keeps collecting.
    this.timer ??= setTimeout(() => void this.writing.then(() => this.flush()), BATCH_WINDOW_MS);
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
          .query({
            name: 'fleet-batches.presence',
            text: 'UPDATE "Device" d SET online = v.online, "lastSeenAt" = v.at FROM unnest($1::uuid[], $2::bool[], $3::timestamptz[]) AS v(id, online, at) WHERE d.id = v.id',
            values: [part.map(([id]) => id), part.map(([, s]) => s.online), part.map(([, s]) => s.at)],
          })
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
