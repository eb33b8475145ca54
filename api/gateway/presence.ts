/**
 * Which api node holds each agent's connection: one Redis key per device, claimed with SET NX and kept alive by the
 * holder. A second connection with the same credential (a cloned image) is found with one Redis command, so a fleet
 * reconnecting at once after an api restart costs each agent one round trip, not a question broadcast to every node
 * (a thousand of those at once timed out, and a clone check that cannot answer refuses the connection).
 *
 * A key can outlive its holder (a node that crashed keeps its keys until their TTL): a claim that finds a key is
 * therefore not yet a clone, and the caller asks the nodes whether that connection still exists before taking over.
 * Redis errors propagate: the caller refuses the connection (fail closed).
 */
import crypto from 'node:crypto';
import type { Redis } from '../../lib/redis';

export interface Presence {
  /** True when this node now holds the device; false when a key of another holder (maybe a crashed node) is there. */
  claim(deviceId: string): Promise<boolean>;
  /** Holds the device whatever key was there: only after the nodes said the old connection is gone. */
  takeOver(deviceId: string): Promise<void>;
  /** Lets go of the device, unless another node took it over meanwhile. */
  release(deviceId: string): Promise<void>;
  /** Keeps this node's keys alive for the devices still connected to it. */
  refresh(deviceIds: string[]): Promise<void>;
}

// Deletes or extends the key only while it is still this node's.
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

export function createPresence(redis: Redis, opts: { namespace: string; ttlMs: number }): Presence {
  const holder = crypto.randomUUID();
  const key = (deviceId: string) => `${opts.namespace}:agent:${deviceId}`;
  return {
    async claim(deviceId) {
      return (await redis.set(key(deviceId), holder, 'PX', opts.ttlMs, 'NX')) === 'OK';
    },
    async takeOver(deviceId) {
      await redis.set(key(deviceId), holder, 'PX', opts.ttlMs);
    },
    async release(deviceId) {
      await redis.eval(RELEASE, 1, key(deviceId), holder);
    },
    async refresh(deviceIds) {
      if (deviceIds.length === 0) return;
      const batch = redis.pipeline();
      for (const id of deviceIds) batch.eval(EXTEND, 1, key(id), holder, opts.ttlMs);
      await batch.exec();
    },
  };
}
