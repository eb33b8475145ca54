/** list_discovered_hosts: what the org's network_discovery scans found, from our database. */
import { z } from 'zod';
import { Tier } from '../tier';
import { defineTool, READS } from './define-tool';
import { Ipv4Cidr } from './inputs';

export const listDiscoveredHosts = defineTool({
  name: 'list_discovered_hosts',
  description: "Hosts and open TCP ports found by the organization's network discovery scans (the latest scan of each range).",
  input: z.object({ cidr: Ipv4Cidr.optional().describe('Only this range; every scanned range when omitted') }).strict(),
  tier: Tier.T1,
  rateLimit: READS,
  targets: () => [],
  runs: 'database',
});
