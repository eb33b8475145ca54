/**
 * Network discovery scope: private IPv4 ranges only, and no more than a /22 (1,024 addresses) at once. The
 * device's own loopback (127/8) only where explicitly allowed (tests on one machine), never by default.
 */
import ipaddr from 'ipaddr.js';

export const MIN_PREFIX = 22;

export function checkDiscoveryRange(cidr: string, opts: { allowLoopback?: boolean } = {}): { ok: true } | { ok: false; reason: string } {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    return { ok: false, reason: `"${cidr}" is not a valid CIDR range` };
  }
  const [address, prefix] = parsed;
  if (address.kind() !== 'ipv4') return { ok: false, reason: 'only IPv4 ranges can be scanned' };
  if (prefix < MIN_PREFIX) return { ok: false, reason: `${cidr} is larger than a /${MIN_PREFIX}; scan at most 1,024 addresses at once` };
  if (opts.allowLoopback && address.range() === 'loopback') return { ok: true };
  if (address.range() !== 'private') return { ok: false, reason: `${cidr} is not a private range (10/8, 172.16/12, 192.168/16)` };
  return { ok: true };
}
