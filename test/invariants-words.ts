/**
 * The invariants about words: what reached the model (no text the screen refused, nothing of another org) and what
 * the audit log says (every denial has an event naming its rule; the hash chain holds). Part of test/invariants.ts.
 */
import type { AuditEvent, PrismaClient } from '@prisma/client';
import { verifyOrgChain } from '../audit/chain';
import type { RecordedRequest } from './hostile-model';
import type { RunRecord, SessionRefusal, Violation } from './invariants';

function userTextOf(request: RecordedRequest): string {
  const parts: string[] = [];
  const system = (request.body as { system?: unknown }).system;
  parts.push(typeof system === 'string' ? system : JSON.stringify(system ?? ''));
  for (const m of request.body.messages) {
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') parts.push(m.content);
    else for (const b of m.content) parts.push(b.type === 'text' ? String((b as { text?: unknown }).text) : JSON.stringify(b));
  }
  return parts.join('\n');
}

function assistantTextOf(request: RecordedRequest): string {
  return request.body.messages.filter((m) => m.role === 'assistant').map((m) => JSON.stringify(m.content)).join('\n');
}

/** Refused text never reaches the model; nor does anything of the other org (beyond what the model itself wrote). */
export async function checkModelRequests(prisma: PrismaClient, run: RunRecord): Promise<Violation[]> {
  const violations: Violation[] = [];
  const refusedEvents = await prisma.auditEvent.findMany({ where: { action: 'injection.refused_message', sessionId: { in: run.sessionIds } } });
  const refusedTurns = new Set([
    ...refusedEvents.map((e) => `${e.sessionId}/${(e.data as { turnId?: string }).turnId}`),
    ...run.screenRefusedTurns.map((t) => `${t.sessionId}/${t.turnId}`),
  ]);
  const refused = run.messages.filter((m) => refusedTurns.has(`${m.sessionId}/${m.turnId}`));
  // One violation per refused message and per leaked value, naming the first request that carried it and how many did.
  const leaks = new Map<string, { first: number; tag: string | undefined; count: number; violation: Omit<Violation, 'detail'>; what: string }>();
  const leak = (key: string, i: number, tag: string | undefined, what: string, violation: Omit<Violation, 'detail'>) => {
    const known = leaks.get(key);
    if (known) known.count += 1;
    else leaks.set(key, { first: i, tag, count: 1, violation, what });
  };
  for (const [i, request] of run.modelRequests.entries()) {
    const seen = userTextOf(request);
    for (const m of refused) {
      if (seen.includes(m.text.trim())) leak(`refused:${m.sessionId}:${m.turnId}`, i, request.tag, `the text refused in ${m.sessionId} ${m.turnId} ("${m.text.slice(0, 60)}")`, { invariant: 'no-refused-text-to-model', data: { sessionId: m.sessionId, turnId: m.turnId } });
    }
    const echoed = assistantTextOf(request);
    for (const marker of run.otherOrgMarkers) {
      if (seen.includes(marker) && !echoed.includes(marker)) leak(`other:${marker}`, i, request.tag, `"${marker}" of the other org`, { invariant: 'no-other-org-data-to-model', data: { marker } });
    }
  }
  for (const l of leaks.values()) {
    violations.push({ ...l.violation, detail: `${l.count} model request(s) carried ${l.what}, first #${l.first} (turn tag ${l.tag})` });
  }
  return violations;
}

const RULE_FIELDS = ['reason', 'why', 'rule', 'categories', 'problem'];
/** Actions that are themselves the rule they enforce. */
const SELF_EXPLAINING = new Set([
  'security.cross_tenant_access',
  'security.device_out_of_scope',
  'approval.slack_unlinked_user',
  'injection.refused_message',
  'ratelimit.denied',
  'ratelimit.unavailable',
  'budget.denied',
  'budget.hourly_ceiling',
  'budget.unavailable',
]);

export function namesRule(e: Pick<AuditEvent, 'action' | 'data'>): boolean {
  const data = (e.data ?? {}) as Record<string, unknown>;
  return SELF_EXPLAINING.has(e.action) || RULE_FIELDS.some((f) => (Array.isArray(data[f]) ? (data[f] as unknown[]).length > 0 : typeof data[f] === 'string' && data[f] !== ''));
}

/** Every denial (tool call, refused turn, refused decision or request, ignored signal) has an audit event naming its rule. */
export async function checkDenialsAudited(prisma: PrismaClient, run: RunRecord): Promise<Violation[]> {
  const violations: Violation[] = [];
  const denied = await prisma.toolInvocation.findMany({ where: { sessionId: { in: run.sessionIds }, decision: 'deny' } });
  const events = await prisma.auditEvent.findMany({ where: { OR: [{ sessionId: { in: run.sessionIds } }, { orgId: { in: [run.orgId, run.otherOrgId] } }, { orgId: null }], createdAt: { gte: new Date(run.startedAt.getTime() - 1000) } }, orderBy: { id: 'asc' } });
  const sessionEvents = events.filter((e) => e.sessionId && run.sessionIds.includes(e.sessionId));
  for (const inv of denied) {
    const found = sessionEvents.find((e) => e.action === 'tool.denied' && (e.data as { invocationId?: string }).invocationId === inv.id);
    if (!found || !namesRule(found)) violations.push({ invariant: 'denials-audited', detail: `tool call ${inv.toolName} (${inv.id}) was denied ("${inv.summary}") ${found ? 'with an audit event that names no rule' : 'without an audit event'}`, data: { invocationId: inv.id } });
  }
  // Each event accounts for one refusal. Events that name the refusal's tool call or turn are matched first, and
  // only then one without a turn id (the guards and the message check write none) for any refused turn of its
  // session: matched greedily in one pass, a turn with its own event could take the loose one another turn needs,
  // depending on the order the rows come back in.
  const claimed = new Set<bigint>();
  const names = (r: SessionRefusal, e: AuditEvent) => {
    const data = e.data as { turnId?: string; toolUseId?: string; invocationId?: string };
    if (r.toolUseId) return data.turnId === r.turnId && (data.toolUseId === r.toolUseId || data.invocationId === `${r.sessionId}:${r.toolUseId}`);
    return data.turnId === r.turnId;
  };
  const loose = (r: SessionRefusal, e: AuditEvent) => {
    const data = e.data as { turnId?: string; toolUseId?: string; invocationId?: string; kind?: string };
    if (r.toolUseId) return data.turnId === undefined && (data.toolUseId === r.toolUseId || data.invocationId === `${r.sessionId}:${r.toolUseId}`);
    return data.turnId === undefined && (/^(ratelimit|budget)\./.test(e.action) || (e.action === 'workflow.request_refused' && data.kind === 'message'));
  };
  const take = (r: SessionRefusal, match: typeof names) => {
    const found = sessionEvents.find((e) => !claimed.has(e.id) && e.sessionId === r.sessionId && namesRule(e) && match(r, e));
    if (found) claimed.add(found.id);
    return found !== undefined;
  };
  const unmatched = run.sessionRefusals.filter((r) => !take(r, names)).filter((r) => !take(r, loose));
  for (const r of unmatched) {
    violations.push({ invariant: 'denials-audited', detail: `${r.toolUseId ? `tool call ${r.toolUseId}` : 'turn'} in ${r.sessionId} ${r.turnId} was refused ("${r.reason.slice(0, 120)}") without an audit event naming the rule`, data: { ...r } });
  }
  for (const d of run.observedDenials) {
    const found = events.find((e) => e.actorId === d.actorId && e.createdAt.getTime() >= d.at.getTime() - 1000 && (e.target === d.target || e.sessionId === (d.sessionId ?? d.target) || e.action === 'security.cross_tenant_access') && namesRule(e));
    if (!found) violations.push({ invariant: 'denials-audited', detail: `${d.what} by ${d.actorId} on ${d.target} was refused without an audit event naming the rule`, data: { ...d } });
  }
  return violations;
}

export async function checkAuditChains(prisma: PrismaClient, run: RunRecord): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const orgId of [run.orgId, run.otherOrgId]) {
    const report = await verifyOrgChain(prisma, orgId);
    if (report.broken) violations.push({ invariant: 'audit-chain', detail: `audit chain of org ${orgId} broken at #${report.broken.seq}: ${report.broken.problem}`, data: { ...report.broken } });
  }
  return violations;
}
