/**
 * Runs an authorized call of an upstream MCP server's tool: the only place Gatehouse calls one. Like a database
 * tool's activity it checks the session and the kill switch again; then it connects to the upstream (the operator's
 * rules again: a command it may run, a URL it may reach), reads the tool's definition as the upstream announces it
 * now and calls it only if it still matches the hash pinned when the call was authorized (and approved). A changed
 * definition disables the tool until an admin approves the change, and the call fails without being sent.
 *
 * At most once: the call is recorded as sent (an audit event) before it goes out, and an attempt that finds that
 * record does not send it again; its outcome is unknown, and said so. The result passes the sanitizer (a failure of
 * the connection is a fixed text, the raw error in the log), the fence and the detector, like a device's output.
 */
import crypto from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Prisma } from '@prisma/client';
import { FailureType } from '../common/failures';
import type { ToolOutcome } from '../common/session';
import type { UpstreamExecution } from '../common/tools';
import { SAFE_ERRORS } from '../cage/error-sanitizer';
import { audit } from '../audit/log';
import { callUpstream, connectUpstream, definitionHash, definitionOf, listUpstreamTools, targetOf, UpstreamRefused } from '../lib/mcp-upstream';
import { approvalOf } from './command-authority';
import type { ActivityDeps } from './deps';
import { auditSessionRefusal, checkSession } from './session-identity';
import { finishInvocation } from './tool-output';

/** Attempts of the activity (workflows/activities.ts `upstream`): the last one that cannot connect fails the call. */
const UPSTREAM_CONNECT_ATTEMPTS = 3;

/** How long an upstream may take to answer one call. */
export const UPSTREAM_CALL_TIMEOUT_MS = 120_000;

/** What the model reads of an MCP result: its text, and a line for anything that is not text. */
export function resultText(result: CallToolResult): string {
  const parts = (result.content ?? []).map((c) => {
    if (c.type === 'text') return c.text;
    if (c.type === 'image' || c.type === 'audio') return `[${c.type} ${c.mimeType}, ${Math.round((c.data.length * 3) / 4)} bytes, not shown]`;
    if (c.type === 'resource_link') return `[resource link ${c.uri}${c.name ? ` (${c.name})` : ''}]`;
    if (c.type === 'resource') return 'text' in c.resource && typeof c.resource.text === 'string' ? `[resource ${c.resource.uri}]\n${c.resource.text}` : `[resource ${c.resource.uri}, binary, not shown]`;
    return '[content of an unknown type, not shown]';
  });
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent, null, 1));
  return parts.join('\n');
}

export function makeCallUpstreamTool(deps: ActivityDeps) {
  const { prisma, logger } = deps;
  return async function callUpstreamTool(input: { invocationId: string; userId: string }): Promise<ToolOutcome> {
    const inv = await prisma.toolInvocation.findUnique({ where: { id: input.invocationId } });
    const execution = inv?.execution as unknown as UpstreamExecution | null;
    if (!inv || inv.decision === 'deny' || execution?.type !== 'upstream') {
      throw ApplicationFailure.nonRetryable('no authorized upstream tool invocation with this id', FailureType.NotFound);
    }
    if (inv.status === 'succeeded' || inv.status === 'failed') return { invocationId: inv.id, status: inv.status, summary: inv.summary ?? '' };
    const fail = (summary: string) => finishInvocation(deps, inv, { status: 'failed', summary, output: { error: summary } });

    const known = await checkSession(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, { breaker: true, onBreakerTrip: () => deps.metrics.breakerTrips.inc() });
    if (!known.ok) {
      await auditSessionRefusal(prisma, { sessionId: inv.sessionId, orgId: inv.orgId }, known, { activity: 'callUpstreamTool', target: inv.toolName, data: { invocationId: inv.id } }).catch(() => undefined);
      if (known.rule === 'session_identity') throw ApplicationFailure.nonRetryable(`callUpstreamTool refused: ${known.reason}`, FailureType.Unauthorized);
      return fail(known.reason);
    }
    const org = await prisma.organization.findUniqueOrThrow({ where: { id: inv.orgId }, select: { copilotPausedAt: true } });
    if (org.copilotPausedAt) {
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, sessionId: inv.sessionId, action: 'tool.denied', target: inv.toolName, data: { invocationId: inv.id, rule: 'paused', reason: SAFE_ERRORS.PAUSED } });
      return fail(SAFE_ERRORS.PAUSED);
    }
    const approved = await approvalOf(prisma, inv);
    if (typeof approved === 'string') {
      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, sessionId: inv.sessionId, action: 'tool.denied', target: inv.toolName, data: { invocationId: inv.id, rule: 'approval', reason: approved } });
      return fail(`not run: ${approved}`);
    }
    const sent = await prisma.auditEvent.findFirst({ where: { sessionId: inv.sessionId, orgId: inv.orgId, action: 'mcp_upstream.call_sent', target: inv.id }, select: { id: true } });
    if (sent) return fail('the call was sent to the upstream server, but its answer was lost (the worker stopped); it was not sent again: check the upstream before calling it again');

    const tool = await prisma.mcpUpstreamTool.findFirst({ where: { upstreamId: execution.upstreamId, name: execution.tool, orgId: inv.orgId }, include: { upstream: true } });
    if (!tool || tool.status !== 'enabled' || tool.sha256 !== execution.sha256) {
      return fail(`not run: ${inv.toolName} was disabled or changed after this call was authorized; an admin of the organization must review it`);
    }

    let client;
    try {
      client = await connectUpstream(targetOf(tool.upstream), deps.mcpUpstream);
    } catch (err) {
      if (err instanceof UpstreamRefused) return fail(`not run: ${err.message}`);
      // Nothing was sent: another attempt may connect again; the last one says so in fixed words (the raw error is logged).
      const ref = `err_${crypto.randomBytes(6).toString('hex')}`;
      logger.warn({ err: (err as Error).message, ref, upstream: tool.upstream.name }, 'upstream MCP server unreachable');
      if (Context.current().info.attempt < UPSTREAM_CONNECT_ATTEMPTS) throw ApplicationFailure.retryable(`the upstream MCP server could not be reached (reference ${ref})`, 'UpstreamUnreachable');
      return fail(`not run: the upstream MCP server could not be reached (reference ${ref})`);
    }
    try {
      const live = (await listUpstreamTools(client)).find((t) => t.name === tool.name);
      if (!live) return fail(`not run: the upstream server no longer offers ${tool.name}`);
      const now = definitionOf(live);
      const hash = definitionHash(tool.name, now);
      if (hash !== tool.sha256) {
        await prisma.mcpUpstreamTool.update({
          where: { id: tool.id },
          data: { status: 'changed', pendingTitle: now.title, pendingDescription: now.description, pendingInputSchema: now.inputSchema as Prisma.InputJsonValue, pendingSha256: hash },
        });
        await audit(prisma, { orgId: inv.orgId, actorType: 'system', action: 'mcp_upstream.tool_changed', target: inv.toolName, sessionId: inv.sessionId, data: { upstream: tool.upstream.name, pinnedSha256: tool.sha256, announcedSha256: hash, invocationId: inv.id } });
        return fail(`not run: the upstream server changed the description or input schema of ${inv.toolName} since it was approved; the tool is disabled until an admin of the organization approves the change`);
      }

      await audit(prisma, { orgId: inv.orgId, actorType: 'system', actorId: inv.sessionId, action: 'mcp_upstream.call_sent', target: inv.id, sessionId: inv.sessionId, data: { tool: inv.toolName, upstream: tool.upstream.name, sha256: tool.sha256, userId: input.userId } });
      let result: CallToolResult;
      try {
        result = await callUpstream(client, tool.name, inv.input as Record<string, unknown>, UPSTREAM_CALL_TIMEOUT_MS);
      } catch (err) {
        const ref = `err_${crypto.randomBytes(6).toString('hex')}`;
        logger.warn({ err: (err as Error).message, ref, upstream: tool.upstream.name, tool: tool.name }, 'upstream MCP call failed');
        return fail(`the upstream server did not answer the call (reference ${ref}); it may or may not have acted`);
      }
      const text = resultText(result);
      // The upstream's own words (an error's too) are data: they reach the model fenced and scanned, never as the summary.
      return finishInvocation(deps, inv, {
        status: result.isError ? 'failed' : 'succeeded',
        summary: result.isError ? `${tool.upstream.name}: the upstream tool reported an error` : `${tool.upstream.name}: answered (${text.length} characters)`,
        output: text,
      });
    } finally {
      await client.close().catch(() => undefined);
    }
  };
}
