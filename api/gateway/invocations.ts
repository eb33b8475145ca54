/**
 * What the gateway needs to know about a command's tool invocation: for a remediation, where to report progress
 * (the approval digest it signs into each command is on the command's row). A remediation's hundreds of commands
 * share one invocation, and once its approval is decided (or when none was needed) none of this changes, so it is
 * kept.
 */
import type { PrismaClient } from '@prisma/client';
import { executionTypeOf } from '../../common/tools';

export interface Invocation {
  remediation: { sessionId: string; turnId: string; tool: string; total: number } | null;
}

export type InvocationLookup = (invocationId: string) => Promise<Invocation>;

export function createInvocationLookup(prisma: PrismaClient): InvocationLookup {
  const invocations = new Map<string, Invocation>();
  return async (invocationId) => {
    const known = invocations.get(invocationId);
    if (known) return known;
    const [inv, approval] = await Promise.all([
      prisma.toolInvocation.findUnique({ where: { id: invocationId }, select: { toolName: true, sessionId: true, turnId: true } }),
      prisma.approval.findUnique({ where: { invocationId }, select: { status: true, targets: true } }),
    ]);
    const info: Invocation = {
      remediation: inv && executionTypeOf(inv.toolName) === 'remediation' && approval ? { sessionId: inv.sessionId, turnId: inv.turnId, tool: inv.toolName, total: (approval.targets as unknown[]).length } : null,
    };
    if (!approval || approval.status !== 'pending') {
      if (invocations.size > 10_000) invocations.clear();
      invocations.set(invocationId, info);
    }
    return info;
  };
}
