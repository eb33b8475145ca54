/**
 * The remote terminal: asking for one on a device, the org's requests, revoking one, and the recordings auditors play
 * back. The live terminal itself is the `/terminal` Socket.IO namespace (api/gateway/terminals.ts). The operations
 * are services/terminals.ts's.
 */
import type { TerminalRecording, TerminalSession } from '@prisma/client';
import { z } from 'zod';
import { TerminalAnswer, TerminalCastAnswer, TerminalRecordingsAnswer, TerminalsAnswer } from '../../common/api-answers';
import { IdParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as terminals from '../services/terminals';

type Names = { devices: Map<string, string>; users: Map<string, string> };

function recordingView(r: TerminalRecording, names: Names) {
  return {
    id: r.id,
    terminalId: r.terminalSessionId,
    device: names.devices.get(r.deviceId) ?? r.deviceId,
    user: names.users.get(r.userId) ?? r.userId,
    cols: r.cols,
    rows: r.rows,
    openedAt: r.openedAt.toISOString(),
    closedAt: r.closedAt?.toISOString() ?? null,
    closeReason: r.closeReason,
    exitCode: r.exitCode,
    bytesIn: Number(r.bytesIn),
    bytesOut: Number(r.bytesOut),
    castBytes: Number(r.castBytes),
    sha256: r.sha256,
  };
}

function terminalView(t: TerminalSession & { recordings: TerminalRecording[] }, names: Names) {
  return {
    id: t.id,
    orgId: t.orgId,
    deviceId: t.deviceId,
    device: names.devices.get(t.deviceId) ?? t.deviceId,
    requestedBy: t.requestedBy,
    requestedByEmail: names.users.get(t.requestedBy) ?? null,
    reason: t.reason,
    windowSeconds: t.windowSeconds,
    tier: t.tier,
    status: t.status,
    approvalId: t.approvalId,
    workflowId: t.workflowId,
    approvedAt: t.approvedAt?.toISOString() ?? null,
    windowEndsAt: t.windowEndsAt?.toISOString() ?? null,
    endedAt: t.endedAt?.toISOString() ?? null,
    endReason: t.endReason,
    createdAt: t.createdAt.toISOString(),
    recordings: t.recordings.map((r) => recordingView(r, names)),
  };
}

export const requestTerminal = defineRoute({
  method: 'post',
  path: '/v1/devices/:id/terminals',
  summary: 'Ask for a remote terminal on a device, with a reason (technicians); it opens once an approver approves (T4 by default)',
  tag: 'terminals',
  auth: 'user',
  params: IdParams,
  body: z
    .object({
      reason: z.string().trim().min(3, 'say why you need a terminal').max(500),
      windowSeconds: z.number().int().min(5).max(86_400).optional().describe('How long it may stay open once approved (at most TERMINAL_WINDOW_SECONDS)'),
    })
    .strict(),
  responses: { 201: 'Requested; waiting for an approver', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown device', 409: 'The copilot is paused', 503: 'Approvals unavailable' },
  response: TerminalAnswer,
  async handler(ctx) {
    const { row, device } = await terminals.requestTerminal(ctx, ctx.params.id, ctx.body);
    const names = { devices: new Map([[device.id, device.name]]), users: new Map([[ctx.principal.userId, ctx.principal.email]]) };
    return { status: 201, body: terminalView({ ...row, recordings: [] }, names) };
  },
});

export const listTerminals = defineRoute({
  method: 'get',
  path: '/v1/terminals',
  summary: "An org's terminal requests: your own, or all of them for its approvers, admins and auditors",
  tag: 'terminals',
  auth: 'user',
  query: z.object({ org: z.string().min(1).max(100) }).strict(),
  responses: { 200: 'The requests', 400: 'Invalid query', 401: 'No valid API key', 404: 'Unknown organization' },
  response: TerminalsAnswer,
  async handler(ctx) {
    const { org, terminals: rows, names } = await terminals.listTerminals(ctx, ctx.query.org);
    return { status: 200, body: { org: org.slug, terminals: rows.map((t) => terminalView(t, names)) } };
  },
});

export const getTerminal = defineRoute({
  method: 'get',
  path: '/v1/terminals/:id',
  summary: 'One terminal request: its approval, window and recordings',
  tag: 'terminals',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'The request', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown terminal' },
  response: TerminalAnswer,
  async handler(ctx) {
    const { row, names } = await terminals.viewTerminal(ctx, ctx.params.id);
    return { status: 200, body: terminalView(row, names) };
  },
});

export const revokeTerminal = defineRoute({
  method: 'post',
  path: '/v1/terminals/:id/revoke',
  summary: "Revoke a terminal's approval: its live terminals close at once (approvers and admins of the org, or the technician)",
  tag: 'terminals',
  auth: 'user',
  params: IdParams,
  body: z.object({ reason: z.string().max(500).optional() }).strict(),
  responses: { 200: 'Revoked', 400: 'Invalid body', 401: 'No valid API key', 403: 'Not allowed', 404: 'Unknown terminal', 409: 'Not approved (pending, or already over)' },
  response: TerminalAnswer,
  async handler(ctx) {
    const row = await terminals.revokeTerminal(ctx, ctx.params.id, ctx.body.reason);
    const { names } = await terminals.viewTerminal(ctx, row.id);
    return { status: 200, body: terminalView({ ...row, recordings: [] }, names) };
  },
});

export const listRecordings = defineRoute({
  method: 'get',
  path: '/v1/terminal-recordings',
  summary: "An org's terminal recordings, each with its SHA-256 (auditors and admins)",
  tag: 'terminals',
  auth: 'user',
  query: z.object({ org: z.string().min(1).max(100) }).strict(),
  responses: { 200: 'The recordings', 400: 'Invalid query', 401: 'No valid API key', 404: 'Unknown organization' },
  response: TerminalRecordingsAnswer,
  async handler(ctx) {
    const { org, recordings, names } = await terminals.listRecordings(ctx, ctx.query.org);
    return { status: 200, body: { org: org.slug, recordings: recordings.map((r) => recordingView(r, names)) } };
  },
});

export const getRecording = defineRoute({
  method: 'get',
  path: '/v1/terminal-recordings/:id',
  summary: 'One recording: the asciicast v2 file and whether it still matches the SHA-256 in the audit chain (auditors and admins)',
  tag: 'terminals',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'The recording', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown recording' },
  response: TerminalCastAnswer,
  async handler(ctx) {
    const { recording, cast, verified } = await terminals.recordingCast(ctx, ctx.params.id);
    const names = await terminals.listRecordingNames(ctx, recording);
    return { status: 200, body: { recording: recordingView(recording, names), cast: cast.toString('utf8'), verified } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const terminalRoutes: AnyRoute[] = [requestTerminal, listTerminals, getTerminal, revokeTerminal, listRecordings, getRecording];
