/**
 * The digest an approval is bound to: SHA-256 over the canonical JSON (RFC 8785) of the tool name, its parsed
 * input and its sorted target devices. An approver approves exactly this call; any change changes the digest.
 */
import crypto from 'node:crypto';
import canonicalize from 'canonicalize';

export function approvalDigest(call: { tool: string; input: unknown; targets: string[] }): string {
  const canonical = canonicalize({ tool: call.tool, input: call.input, targets: [...call.targets].sort() });
  if (canonical === undefined) throw new Error('tool call cannot be canonicalized');
  return crypto.createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** What a T4 approver must type: the device name, or the device count for a batch. */
export function confirmationPhrase(targets: { name: string }[]): string {
  return targets.length === 1 ? targets[0]!.name : `${targets.length} devices`;
}
