/**
 * network_discovery: a device scans a private range for open TCP ports. Private ranges only, at most a /22, two
 * scans per 10 minutes per user; what it finds is kept per org (activities/tools/handlers.ts) and read back with
 * list_discovered_hosts.
 */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool } from './define-tool';
import { DeviceId, Ipv4Cidr } from './inputs';

export const networkDiscovery = defineTool({
  name: 'network_discovery',
  description: 'Scan a private IPv4 range (at most a /22) from a device for hosts with open TCP ports.',
  input: z
    .object({
      device_id: DeviceId.describe('The device that scans its network'),
      cidr: Ipv4Cidr,
      ports: z.array(z.number().int().min(1).max(65_535)).min(1).max(64).default([22, 80, 443, 445, 3389]),
    })
    .strict(),
  tier: Tier.T2,
  rateLimit: { max: 2, windowSeconds: 600 },
  targets: (i) => [i.device_id],
  scanRange: (i) => i.cidr,
  runs: { command: 'network_discovery', params: (i) => ({ cidr: i.cidr, ports: i.ports }) },
});
