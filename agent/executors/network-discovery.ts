/** TCP-connect discovery of a private range (re-checked here: the agent does not trust the server blindly). */
import { canConnect } from '../../lib/tcp';
import ipaddr from 'ipaddr.js';
import { CommandParams } from '../../common/protocol';
import { checkDiscoveryRange } from '../../cage/network';
import { ExecutorError } from './types';

export function hostsOf(cidr: string): string[] {
  const [base, prefix] = ipaddr.IPv4.parseCIDR(cidr);
  const start = (base.toByteArray().reduce((n, b) => n * 256 + b, 0) >>> 0) & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
  const size = 2 ** (32 - prefix);
  const out: string[] = [];
  // Network and broadcast addresses are skipped for ranges with more than two addresses.
  for (let i = size > 2 ? 1 : 0; i < (size > 2 ? size - 1 : size); i++) {
    const n = (start + i) >>> 0;
    out.push([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
  }
  return out;
}

export async function networkDiscovery(raw: Record<string, unknown>, opts: { allowLoopback?: boolean; signal?: AbortSignal } = {}) {
  const p = CommandParams.network_discovery.parse(raw);
  const range = checkDiscoveryRange(p.cidr, { allowLoopback: opts.allowLoopback });
  if (!range.ok) throw new ExecutorError('INVALID_COMMAND', range.reason);
  const hosts = hostsOf(p.cidr);
  const probes = hosts.flatMap((host) => p.ports.map((port) => ({ host, port })));
  const open = new Map<string, number[]>();
  const CONCURRENCY = 128;
  for (let i = 0; i < probes.length; i += CONCURRENCY) {
    // Past the dispatch timeout the scan stops probing, rather than scanning on after the agent reported TIMEOUT.
    if (opts.signal?.aborted) throw new ExecutorError('TIMEOUT', 'the scan was stopped at its dispatch timeout');
    const batch = probes.slice(i, i + CONCURRENCY);
    const results = await Promise.all(batch.map((t) => canConnect(t.host, t.port, p.timeoutMs)));
    batch.forEach((t, j) => {
      if (results[j]) open.set(t.host, [...(open.get(t.host) ?? []), t.port]);
    });
  }
  return { cidr: p.cidr, scanned: hosts.length, hosts: [...open.entries()].map(([address, openPorts]) => ({ address, openPorts })) };
}
