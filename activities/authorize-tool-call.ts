import { Prisma } from '@prisma/client';
import { describeToolCallLimit, toolCallKey, toolCallLimit } from '../lib/org-rate-limits';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { copilotWorkflowId, toolInvocationId } from '../common/ids';
import type { Authorization } from '../common/session';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { CHANGES, executionTypeOf, isToolName, pickCanary, READS, toolOf, Tier, type CanaryPlan, type TargetReference, type ToolExecution } from '../common/tools';
import { parseQualifiedName } from '../lib/mcp-upstream';
import { approvalDigest } from '../cage/approval-digest';
import { checkDiscoveryRange } from '../cage/network';
import { checkScriptParameters, ScriptParameters } from '../common/script-parameters';
import { serviceOf } from '../cage/policy';
import { decideUnder, type DecisionInputs } from '../cage/policy-decision';
import { currentPolicy, documentOf } from '../lib/policy-store';
import type { StandingRule } from '../common/policy-document';
import { describeCall } from './approvals';
import { BLAST_RADIUS_WINDOW_MINUTES } from '../common/default-policy';
import { audit } from '../audit/log';
import { sha256 } from '../lib/secrets';
import { narrowedSites, siteFilter, userSites } from '../lib/site-scope';
import { tenantDb } from '../lib/tenant-db';
import { publishSessionEvent } from '../lib/session-events';
import type { DenialRule } from '../lib/metrics';
import type { ActivityDeps } from './deps';
import { bounded, RATE_UNAVAILABLE } from './guards';
import { auditSessionRefusal, checkSession } from './session-identity';
import { sitesReachedBy } from './tool-reach';
import { argumentProvenance } from './provenance';
import { grantAuditData, grantRefusal, type TurnGrant } from './oauth-grant';
import { readAuthorization, readRequesterReach, recordDecision, type DecisionRow } from './authorize-record';

export interface AuthorizeToolCallInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  userId: string;
  toolUse: { id: string; name: string; input: unknown };
  /** The session read content flagged as injected and no human has approved since (as the workflow says; the record is read too). */
  tainted: boolean;
}

/** Roles that may have the copilot act on their behalf. */
/** The roles that may use the copilot. */
export const ACTING_ROLES = ['technician', 'admin'];

/** What the policy function read for a call, recorded on its row: a what-if decides the call again from exactly these. */
export type PolicyInputs = DecisionInputs;

type Verdict =
  | {
      decision: 'allow' | 'approve';
      tier: Tier;
      parsed: unknown;
      execution: ToolExecution;
      digest: string;
      targets: string[];
      siteIds: string[];
      why: string[];
      policyVersion: number;
      /** Rejections in a row that trip the session's breaker under that version (the document's breakerStreak). */
      breakerStreak?: number;
      policyInputs?: PolicyInputs;
      /** A T3 call let through by this standing approval (no new approval; its rule is the authority). */
      standing?: StandingRule;
    }
  | { decision: 'deny'; rule: DenialRule; reason: string; parsed?: unknown; policyVersion?: number; policyInputs?: PolicyInputs };

/** A denial: its rule is what metrics count (a fixed vocabulary), its reason what the model and the audit log read. */
const deny = (rule: DenialRule, reason: string, parsed?: unknown): Verdict => ({ decision: 'deny', rule, reason, parsed });

/**
 * Decides whether one tool call the model asked for may run, and how. In this order: the name must be in the
 * catalog (an invented tool is refused before anything looks at its input); the input must parse; the org must
 * not be paused; the requester must still hold a technician or admin role; every target device must belong to the
 * session's org (the org comes from the session, never from the model); then the policy resolves the tier.
 * T1/T2 are allowed, T3/T4 need an approval bound to the call's digest. Every decision is recorded and audited.
 * A retry (the earlier attempt's result never reached history) decides afresh against the current state.
 */
export function makeAuthorizeToolCall(deps: ActivityDeps) {
  const authorize = authorizeOnce(deps);
  // The call it decided on comes back with the decision: a local activity's marker keeps only its result, and the
  // audit timeline (audit/timeline.ts) shows which call was decided.
  return async function authorizeToolCall(input: AuthorizeToolCallInput): Promise<Authorization & { toolUse?: { name: string; input: unknown } }> {
    return { ...(await authorize(input)), toolUse: { name: input.toolUse.name.slice(0, 100), input: input.toolUse.input } };
  };
}

function authorizeOnce(deps: ActivityDeps) {
  const { prisma } = deps;
  return async function decideAndRecord(input: AuthorizeToolCallInput): Promise<Authorization> {
    const invocationId = serverInvocationId(input);
    // A row under this id, the session with its breaker's count, the org's kill switch and the turn's OAuth grant: one read.
    const record = await readAuthorization(deps.pool, { invocationId, sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId }).catch(async (err: unknown) => {
      // Fail closed, and say so: nothing runs without this read. The attempt is retried; once the retries are spent
      // the turn fails. Each failed attempt is an audit event (if the audit log can still be written).
      const attempt = Context.current().info.attempt;
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'tool.authorization_failed', target: input.toolUse.name.slice(0, 100), sessionId: input.sessionId, data: { invocationId, attempt, error: String(err).slice(0, 500) } }).catch(() => undefined);
      throw err;
    });
    // Unique by construction; should a row of another call ever sit under this id, it is neither overwritten nor
    // reused (its approval, its output), and nothing runs.
    const existing = record.existing;
    if (existing && (existing.sessionId !== input.sessionId || existing.turnId !== input.turnId || existing.toolUseId !== input.toolUse.id)) {
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'security.invocation_id_collision', target: invocationId, sessionId: input.sessionId, data: { toolUseId: input.toolUse.id.slice(0, 200) } });
      throw ApplicationFailure.nonRetryable('a tool invocation with this id already exists for another call; nothing was run', FailureType.InvalidInput);
    }
    // The session, its breaker and its org's kill switch as the database has them, not as the workflow says.
    const known = await checkSession(prisma, input, { breaker: true, paused: true, onBreakerTrip: () => deps.metrics.breakerTrips.inc() }, record);
    if (!known.ok) {
      countDecision(deps, { decision: 'deny', rule: known.rule, reason: known.reason });
      const toolName = input.toolUse.name.slice(0, 100);
      await auditSessionRefusal(prisma, input, known, { activity: 'authorizeToolCall', target: toolName, data: { invocationId, userId: input.userId, turnId: input.turnId } });
      // A workflow that is not this session writes nothing into it; the session's own calls are recorded as denied.
      if (known.rule !== 'session_identity') await recordDenied(deps, input, invocationId, known.reason);
      return { decision: 'deny', invocationId, reason: known.reason };
    }

    let verdict: Verdict;
    let grant: TurnGrant | null = null;
    try {
      grant = record.grant;
      // The requester is the turn's author as its message row has it (written only for a verified request), not
      // whoever the caller names: activity arguments are anyone's who reaches Temporal.
      const authored = record.turnAuthor !== null && record.turnAuthor === input.userId;
      // Tainted if the workflow says so or the record does: a workflow restarted with clean state through Temporal
      // does not lift the taint (only a human's approval after the flagged output does). A contradiction is audited.
      if (authored && record.tainted && !input.tainted) {
        await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'security.taint_contradicted', target: input.toolUse.name.slice(0, 100), sessionId: input.sessionId, data: { invocationId, turnId: input.turnId, claimedTainted: false } });
      }
      const tainted = input.tainted || record.tainted;
      // The policy in force: the head read with the session (the session is the org's: checked above).
      verdict = authored ? await decide(deps, { ...input, tainted }, record.session?.policyNumber ?? null) : deny('turn_author', 'the requester named is not the author of this turn; nothing was run');
      // An MCP client's OAuth grant narrows what the user may do: its orgs, the tiers its scopes reach, until revoked.
      const refusal = grant && verdict.decision !== 'deny' ? grantRefusal(grant, input.orgId, verdict.tier) : null;
      if (refusal) verdict = deny('oauth_scope', refusal, verdict.parsed);
    } catch (err) {
      // Fail closed: a check that cannot run is a denial, with the cause in the audit log only.
      verdict = deny('authorization_failed', 'authorization could not be completed; nothing was run');
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'tool.authorization_failed', target: input.toolUse.name.slice(0, 100), sessionId: input.sessionId, data: { error: String(err).slice(0, 500) } }).catch(() => undefined);
    }
    countDecision(deps, verdict);
    const toolName = input.toolUse.name.slice(0, 100);
    const standing = verdict.decision !== 'deny' ? verdict.standing : undefined;
    const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
    const row: DecisionRow = {
      toolName,
      input: JSON.stringify(verdict.parsed ?? { unparsed: true }),
      tier: verdict.decision !== 'deny' ? verdict.tier : null,
      decision: verdict.decision,
      status: verdict.decision === 'deny' ? 'denied' : verdict.decision === 'approve' && !standing ? 'awaiting_approval' : 'running',
      summary: verdict.decision === 'deny' ? verdict.reason : null,
      // The commands it may become, read again by every activity that creates a device command.
      execution: verdict.decision !== 'deny' ? json(verdict.execution) : null,
      digest: verdict.decision !== 'deny' ? verdict.digest : null,
      // Who may read the session from now on depends on these (lib/site-scope.ts).
      siteIds: verdict.decision !== 'deny' ? verdict.siteIds : [],
      policyVersion: verdict.policyVersion ?? null,
      policyInputs: json(verdict.policyInputs),
      standingRuleId: standing?.id ?? null,
    };
    // A standing approval is the call's approval: recorded as one, approved by the rule (its author, its expiry),
    // so the effect point checks it like any other (command-authority.ts approvalOf) and the audit names the rule.
    // Made before the call's row (keyed by the call's id; a retry finds it), so that row is written with its event.
    if (standing && verdict.decision === 'approve') await recordStandingApproval(deps, input, invocationId, verdict, standing);
    // The row, the decision's audit event and the console's notice: one statement, all or none.
    await recordDecision(deps.pool, {
      invocationId,
      sessionId: input.sessionId,
      orgId: input.orgId,
      turnId: input.turnId,
      toolUseId: input.toolUse.id,
      row,
      audit: {
        action: `tool.${verdict.decision === 'deny' ? 'denied' : verdict.decision === 'approve' && !standing ? 'needs_approval' : 'authorized'}`,
        data: {
          invocationId,
          userId: input.userId,
          ...grantAuditData(grant),
          policyVersion: verdict.policyVersion ?? null,
          ...(verdict.decision === 'deny' ? { reason: verdict.reason } : { tier: verdict.tier, why: verdict.why }),
          ...(standing ? { standingApproval: { id: standing.id, author: standing.author, expiresAt: standing.expiresAt } } : {}),
        },
      },
      event: {
        sessionId: input.sessionId,
        turnId: input.turnId,
        type: verdict.decision === 'deny' ? 'tool:denied' : 'tool:started',
        tool: toolName,
        invocationId,
        ...(verdict.decision === 'deny' ? { text: verdict.reason } : { tier: verdict.tier, ...(executionTypeOf(toolName) === 'remediation' ? { remediation: true } : {}) }),
      },
    });
    const version = verdict.policyVersion ?? null;
    if (verdict.decision === 'deny') return { decision: 'deny', invocationId, reason: verdict.reason, policyVersion: version };
    // The workflow runs a standing-approved call at once; the effect point still finds its approved approval.
    const execution = carriedExecution(verdict.execution);
    if (verdict.decision === 'allow' || standing) return { decision: 'allow', invocationId, tier: verdict.tier, execution, policyVersion: version, ...(standing ? { standingApprovalId: standing.id } : {}) };
    // A remediation's targets are its devices: on the record too (requestApproval reads them there).
    const targets = execution.type === 'remediation' ? { targets: [], targetsInRecord: true as const } : { targets: verdict.targets };
    return { decision: 'approve', invocationId, tier: verdict.tier, digest: verdict.digest, ...targets, execution, policyVersion: version, ...(verdict.breakerStreak !== undefined ? { breakerStreak: verdict.breakerStreak } : {}) };
  };
}

/**
 * The execution as the workflow carries it. A remediation's devices stay on the invocation's record (written above),
 * where the remediation reads them a page at a time: only their count travels. 10,000 device ids are 390 KB, past
 * Temporal's 256 KB payload warning, and every workflow payload would carry them (this result, the approval
 * request, the remediation's input).
 */
function carriedExecution(execution: ToolExecution): ToolExecution {
  return execution.type === 'remediation' ? { ...execution, devices: [], deviceCount: execution.devices.length } : execution;
}

/** Counts one decision: the call by tier and outcome, and a denial by its rule (and the store, when one was down). */
function countDecision({ metrics }: ActivityDeps, verdict: Verdict): void {
  if (verdict.decision === 'deny') {
    metrics.toolCalls.inc({ tier: 'none', outcome: 'denied' });
    metrics.denials.inc({ rule: verdict.rule });
    if (verdict.rule === 'rate_limit') metrics.rateLimitRefusals.inc({ limit: 'tool' });
    if (verdict.rule === 'store_unavailable') metrics.failClosed.inc({ store: 'redis', check: 'tool_rate_limit' });
    return;
  }
  metrics.toolCalls.inc({ tier: String(verdict.tier), outcome: verdict.decision === 'allow' ? 'allowed' : 'approval_requested' });
}

/** A call of this session denied before authorization looked at it (tripped breaker, paused org): its step. */
async function recordDenied(deps: ActivityDeps, input: AuthorizeToolCallInput, invocationId: string, reason: string): Promise<void> {
  const toolName = input.toolUse.name.slice(0, 100);
  const row = { toolName, input: { unparsed: true }, tier: null, decision: 'deny', status: 'denied', summary: reason, execution: Prisma.JsonNull, digest: null, siteIds: [] };
  await deps.prisma.toolInvocation.upsert({
    where: { id: invocationId },
    create: { id: invocationId, sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, toolUseId: input.toolUse.id, ...row },
    update: row,
  });
  await publishSessionEvent(deps.prisma, { sessionId: input.sessionId, turnId: input.turnId, type: 'tool:denied', tool: toolName, invocationId, text: reason });
}

/**
 * The invocation's id, made by the server: the model's tool_use id is its choice (an untrusted endpoint can repeat
 * one), and approvals, invocation rows and command ids are keyed by this. The run id and this activity's id are
 * unique per scheduled call and the same on every retry of it, so a retry finds its own row and nothing else can.
 */
function serverInvocationId(input: AuthorizeToolCallInput): string {
  const { activityId, workflowExecution } = Context.current().info;
  if (!workflowExecution) throw ApplicationFailure.nonRetryable('authorizeToolCall runs only inside a copilot workflow', FailureType.InvalidInput);
  return toolInvocationId(input.sessionId, `${input.turnId}-${workflowExecution.runId}-${activityId}`.replace(/[^\w-]/g, '_'));
}

async function decide(deps: ActivityDeps, input: AuthorizeToolCallInput, policyHead: number | null): Promise<Verdict> {
  const { prisma } = deps;
  const { name } = input.toolUse;
  const upstream = parseQualifiedName(name);
  if (upstream) return decideUpstream(deps, input, upstream);
  if (!isToolName(name)) return deny('unknown_tool', `unknown tool "${name.slice(0, 100)}": it is not in the catalog`);
  const spec = toolOf(name);
  const parsed = spec.input.safeParse(input.toolUse.input);
  if (!parsed.success) {
    const problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return deny('invalid_input', `invalid input for ${name}: ${problem}`);
  }
  const args = parsed.data;

  // The policy in force, read once for the whole decision; unreadable throws, and the call is denied (fail closed).
  const policyRow = policyHead === null ? await currentPolicy(prisma, input.orgId) : { number: policyHead, document: await documentOf(prisma, input.orgId, policyHead) };
  const policyVersion = policyRow.number;
  // Per tool, per user: the org's own limit for the tool (its admins' policy) or the catalog's (the what-if replays
  // recorded calls against the same rule); the store being down is a denial like any other.
  const limit = toolCallLimit(policyRow.document, name, deps.guards.rates.windowScale);
  // The kill switch again and the requester's roles (one read) are read while the rate limit counts the call: side by
  // side, and decided in the same order as before (a call over its limit is refused as that, whatever the read).
  const reading = readRequesterReach(deps.pool, { orgId: input.orgId, userId: input.userId, roles: ACTING_ROLES }).then(
    (reach) => ({ reach }),
    (err: unknown) => ({ err }),
  );
  let limited;
  try {
    limited = await bounded(() => deps.limiter.hit(toolCallKey(name, input.userId), limit));
  } catch {
    return deny('store_unavailable', RATE_UNAVAILABLE, parsed.data);
  }
  if (!limited.allowed) {
    return deny('rate_limit', `rate limit: ${describeToolCallLimit(limit)}; try again in ${Math.ceil(limited.retryAfterMs / 1000)}s`, parsed.data);
  }

  // The kill switch again, and the requester's roles, at this point of the decision (a read that failed fails it).
  const read = await reading;
  if ('err' in read) throw read.err;
  const { reach } = read;
  if (reach.paused) return deny('paused', 'an admin has paused the copilot for this organization', parsed.data);
  const sites = narrowedSites(reach.bindings);
  if (sites?.length === 0) return deny('no_role', 'the requesting user may no longer use the copilot in this organization', parsed.data);

  // Devices are looked up fenced to the session's org (row-level security) and to the user's sites, if narrowed.
  const fenced = tenantDb(prisma, { orgIds: [input.orgId] });
  let targets = [...new Set(spec.targets(args))];
  const reference = spec.indirectTargets?.(args);
  if (reference) {
    const resolved = await referencedDevices(fenced, input.orgId, sites, reference);
    if (typeof resolved === 'string') return deny('out_of_scope', resolved, parsed.data);
    targets = resolved;
  }
  const devices = await fenced.device.findMany({ where: { id: { in: targets }, orgId: input.orgId, ...siteFilter(sites) }, select: { id: true, name: true, siteId: true } });
  if (devices.length !== targets.length) {
    await audit(prisma, { orgId: input.orgId, actorType: 'model', actorId: input.sessionId, action: 'security.device_out_of_scope', target: name, sessionId: input.sessionId, data: { targets } });
    return deny('out_of_scope', sites ? 'device not found in the sites you work on in this organization' : 'device not found in this organization', parsed.data);
  }
  const scanRange = spec.scanRange?.(args);
  if (scanRange !== undefined) {
    const range = checkDiscoveryRange(scanRange, { allowLoopback: deps.discovery.allowLoopback });
    if (!range.ok) return deny('discovery_range', range.reason, parsed.data);
  }

  let execution = spec.execution(args);
  if (execution.type === 'remediation') execution = { ...execution, devices: targets };
  const canary = spec.canaryOf(args);
  if (canary && execution.type === 'remediation') {
    // Picked among the resolved targets, in their order; part of the execution the approval covers.
    const names = new Map(devices.map((d) => [d.id, d.name]));
    const picked = pickCanary(canary, targets.map((id) => ({ id, name: names.get(id) ?? id })));
    if (typeof picked === 'string') return deny('invalid_input', `invalid input for ${name}: ${picked}`, parsed.data);
    execution = { ...execution, canary: picked };
  }
  let digestInput: unknown = parsed.data;
  const library = spec.libraryScript?.(args);
  if (library !== undefined) {
    const scriptName = library.name;
    const script = await prisma.script.findUnique({ where: { orgId_name: { orgId: input.orgId, name: scriptName } } });
    if (!script) return deny('script', `no script named "${scriptName}" in this organization's library`, parsed.data);
    const declared = ScriptParameters.safeParse(script.parameters);
    const given = library.parameters;
    const problem = declared.success ? checkScriptParameters(declared.data, given) : 'the script\'s parameter declarations are damaged; an admin must save it again';
    if (problem) return deny('script', `script "${scriptName}": ${problem}`, parsed.data);
    execution = withLibraryScript(execution, script);
    // The approval covers this exact body: editing the script invalidates a pending approval.
    digestInput = { ...(parsed.data as object), scriptSha256: sha256(script.body) };
    if (execution.type === 'remediation' && execution.canary) {
      // A canary's read-back and undo are the scripts this one declares, and the approval covers their bodies too.
      const steps = await libraryCanarySteps(prisma, input.orgId, script, given);
      if (typeof steps === 'string') return deny('script', `script "${scriptName}": ${steps}`, parsed.data);
      execution = { ...execution, canary: { ...execution.canary, ...steps.plan } };
      digestInput = { ...(digestInput as object), ...steps.digests };
    }
  }

  // Strings the model read in a tool's output before anyone typed them: the org's own names of the devices it
  // targets (and the group or site it named, both checked above) are not among them.
  const named = reference && !('alert' in reference) ? ['group' in reference ? reference.group : reference.site] : [];
  const [provenance, changed] = await Promise.all([
    argumentProvenance(prisma, input.sessionId, name, parsed.data, [...targets, ...devices.map((d) => d.name), ...named]),
    devicesChangedWithoutApproval(prisma, input.sessionId, targets),
  ]);
  const digest = approvalDigest({ tool: name, input: digestInput, targets });
  const policyInputs: PolicyInputs = {
    tool: name,
    action: spec.action?.(args) ?? null,
    service: serviceOf(name, parsed.data) ?? null,
    targetCount: targets.length,
    sessionDeviceCount: changed.size,
    tainted: input.tainted,
    provenance: provenance || null,
    devices: [...targets].sort(),
    digest,
  };
  const policy = decideUnder(policyRow.document, policyInputs, new Date());
  if (!policy.ok) return { ...deny('policy', policy.reason, parsed.data), policyVersion, policyInputs };
  const decision = policy.tier >= Tier.T3 ? 'approve' : 'allow';
  // Every target was found above (fenced the same way): their sites are the ones the call reaches.
  const siteIds = await sitesReachedBy(fenced, { orgId: input.orgId, targets, userSites: sites, readsCommand: spec.readsCommand?.(args) }, devices);
  return { decision, tier: policy.tier, parsed: parsed.data, execution, digest, targets, siteIds, why: policy.why, policyVersion, breakerStreak: policyRow.document.breakerStreak, policyInputs, ...(policy.standing ? { standing: policy.standing } : {}) };
}

const schemas = new AjvJsonSchemaValidator();

/**
 * A call of an upstream MCP server's tool (`upstream.<server>.<tool>`), decided like any other: the tool must be
 * registered in the session's org and enabled (its definition as pinned, not flagged, no change waiting for an
 * admin); the input must match its pinned input schema; then the per-tool rate limit, the kill switch and the
 * requester's role; its tier is decided by decideUnder like any call's: its registered tier (T3 until an admin
 * assigns one) is the default, the org's policy may override it (upstream.<server>.<tool>, action "*"), and flagged
 * content or an argument from a tool's output raise it to T3. The approval's digest covers the pinned definition's hash too.
 */
async function decideUpstream(deps: ActivityDeps, input: AuthorizeToolCallInput, ref: { server: string; tool: string }): Promise<Verdict> {
  const { prisma } = deps;
  const name = input.toolUse.name;
  const tool = await prisma.mcpUpstreamTool.findFirst({ where: { orgId: input.orgId, name: ref.tool, upstream: { name: ref.server, orgId: input.orgId } } });
  if (!tool) return deny('unknown_tool', `unknown tool "${name.slice(0, 100)}": no upstream server of this organization offers it`);
  if (tool.status !== 'enabled') {
    const why = tool.status === 'flagged' ? 'its description or input schema was flagged as a prompt injection' : 'its upstream server changed its description or input schema since an admin approved it';
    return deny('upstream_disabled', `${name} is disabled: ${why}; an admin of the organization must review it`);
  }
  const check = schemas.getValidator<Record<string, unknown>>(tool.inputSchema as never)(input.toolUse.input ?? {});
  if (!check.valid || typeof check.data !== 'object' || check.data === null || Array.isArray(check.data)) {
    return deny('invalid_input', `invalid input for ${name}: ${(check.errorMessage ?? 'an object is expected').slice(0, 300)}`);
  }
  const args = check.data;
  // Not in the org's policy (the what-if does not model it): the catalog's limits by the registered tier.
  const { max, windowSeconds } = tool.tier >= Tier.T3 ? CHANGES : READS;
  let limited;
  try {
    limited = await bounded(() => deps.limiter.hit(toolCallKey(name, input.userId), { max, windowMs: Math.round(windowSeconds * 1000 * deps.guards.rates.windowScale) }));
  } catch {
    return deny('store_unavailable', RATE_UNAVAILABLE, args);
  }
  if (!limited.allowed) return deny('rate_limit', `rate limit: ${describeToolCallLimit({ tool: name, max, windowSeconds })}; try again in ${Math.ceil(limited.retryAfterMs / 1000)}s`, args);
  const org = await prisma.organization.findUniqueOrThrow({ where: { id: input.orgId }, select: { copilotPausedAt: true } });
  if (org.copilotPausedAt) return deny('paused', 'an admin has paused the copilot for this organization', args);
  // The policy in force, read once; unreadable throws and the call is denied (fail closed).
  const policyRow = await currentPolicy(prisma, input.orgId);
  const policyVersion = policyRow.number;
  const sites = await userSites(prisma, input.userId, input.orgId, ACTING_ROLES);
  if (sites?.length === 0) return deny('no_role', 'the requesting user may no longer use the copilot in this organization', args);

  const definition = { name, title: tool.title, description: tool.description, inputSchema: tool.inputSchema };
  const provenance = await argumentProvenance(prisma, input.sessionId, name, args, [], definition);
  const digest = approvalDigest({ tool: name, input: { ...args, definitionSha256: tool.sha256 }, targets: [] });
  // Decided like a built-in call (one code path), its registered tier the default; recorded for the what-if.
  const policyInputs: PolicyInputs = { tool: name, action: null, service: null, targetCount: 0, sessionDeviceCount: 0, tainted: input.tainted, provenance: provenance || null, devices: [], digest, upstreamTier: tool.tier };
  const policy = decideUnder(policyRow.document, policyInputs, new Date());
  if (!policy.ok) return { ...deny('policy', policy.reason, args), policyVersion, policyInputs };
  const tier = policy.tier;
  const execution: ToolExecution = { type: 'upstream', upstreamId: tool.upstreamId, tool: tool.name, sha256: tool.sha256 };
  const fenced = tenantDb(prisma, { orgIds: [input.orgId] });
  const siteIds = await sitesReachedBy(fenced, { orgId: input.orgId, targets: [], userSites: sites, readsCommand: undefined });
  return { decision: tier >= Tier.T3 ? 'approve' : 'allow', tier, parsed: args, execution, digest, targets: [], siteIds, why: policy.why, policyVersion, breakerStreak: policyRow.document.breakerStreak, policyInputs, ...(policy.standing ? { standing: policy.standing } : {}) };
}

/** This call's targets and the devices of the session's T2 calls (which ran with no human) within the window. */
async function devicesChangedWithoutApproval(prisma: ActivityDeps['prisma'], sessionId: string, targets: string[]): Promise<Set<string>> {
  const since = new Date(Date.now() - BLAST_RADIUS_WINDOW_MINUTES * 60_000);
  const earlier = await prisma.toolInvocation.findMany({ where: { sessionId, tier: Tier.T2, decision: 'allow', createdAt: { gt: since } }, select: { execution: true } });
  const devices = new Set(targets);
  for (const { execution } of earlier) {
    const e = execution as ToolExecution | null;
    if (e?.type === 'devices') for (const c of e.commands) devices.add(c.deviceId);
    else if (e?.type === 'remediation') for (const d of e.devices) devices.add(d);
  }
  return devices;
}

/** The most devices one call may name through a group or site. */
export const MAX_REFERENCED_DEVICES = 50_000;

/**
 * The devices a call names through an alert (its device, looked up in the session's org: the site scope is checked
 * on the device like any target), or through a group or site (its devices in the session's org and the user's
 * sites); a message for the model when there are none.
 */
async function referencedDevices(prisma: ActivityDeps['prisma'], orgId: string, sites: string[] | null, target: TargetReference): Promise<string[] | string> {
  if ('alert' in target) {
    const alert = await prisma.alert.findFirst({ where: { id: target.alert, orgId }, select: { deviceId: true } });
    return alert ? [alert.deviceId] : 'no alert with that id in this organization';
  }
  const where = { orgId, ...siteFilter(sites), ...('group' in target ? { group: { name: target.group } } : { site: { name: target.site } }) };
  const devices = await prisma.device.findMany({ where, select: { id: true }, orderBy: { name: 'asc' }, take: MAX_REFERENCED_DEVICES + 1 });
  const named = 'group' in target ? `group "${target.group}"` : `site "${target.site}"`;
  if (devices.length === 0) return `no devices in ${named} of this organization`;
  // Refused rather than cut short: a call must run on every device it names, or on none.
  if (devices.length > MAX_REFERENCED_DEVICES) return `${named} has more than ${MAX_REFERENCED_DEVICES} devices: name a smaller group`;
  return devices.map((d) => d.id);
}

/**
 * The check and undo a library script declares (other scripts of the library), as a canary runs them: each gets the
 * call's parameters it declares. A declared script that is missing, or whose parameters do not fit, denies the call.
 */
async function libraryCanarySteps(
  prisma: ActivityDeps['prisma'],
  orgId: string,
  script: { checkScript: string | null; undoScript: string | null },
  given: Record<string, string>,
): Promise<{ plan: Pick<CanaryPlan, 'check' | 'undo'>; digests: Record<string, string> } | string> {
  const plan: Pick<CanaryPlan, 'check' | 'undo'> = {};
  const digests: Record<string, string> = {};
  for (const [step, name] of [['check', script.checkScript], ['undo', script.undoScript]] as const) {
    if (!name) continue;
    const declared = await prisma.script.findUnique({ where: { orgId_name: { orgId, name } } });
    if (!declared) return `its ${step} script "${name}" is not in this organization's library`;
    const parameters = ScriptParameters.safeParse(declared.parameters);
    if (!parameters.success) return `the parameter declarations of its ${step} script "${name}" are damaged; an admin must save it again`;
    const passed = Object.fromEntries(Object.entries(given).filter(([k]) => k in parameters.data));
    const problem = checkScriptParameters(parameters.data, passed);
    if (problem) return `its ${step} script "${name}": ${problem}`;
    const command = { kind: 'run_script' as const, params: { name, parameters: passed, interpreter: declared.interpreter, script: declared.body, timeoutSeconds: 300 } };
    if (step === 'check') plan.check = { ...command, expect: { exitCode: 0 } };
    else plan.undo = command;
    digests[`${step}Sha256`] = sha256(declared.body);
  }
  return { plan, digests };
}

function withLibraryScript(execution: ToolExecution, script: { name: string; interpreter: string; body: string }): ToolExecution {
  const library = { name: script.name, interpreter: script.interpreter, script: script.body, timeoutSeconds: 300 };
  if (execution.type === 'remediation') return { ...execution, params: { ...execution.params, ...library } };
  if (execution.type !== 'devices') return execution;
  return { type: 'devices', commands: execution.commands.map((c) => ({ ...c, params: { ...c.params, ...library } })) };
}

/**
 * The approval of a call a standing approval let through: approved by the rule's author through the "standing"
 * channel, naming the rule, already delivered (the workflow never waits for it) and never announced to approvers.
 */
async function recordStandingApproval(deps: ActivityDeps, input: AuthorizeToolCallInput, invocationId: string, verdict: Exclude<Verdict, { decision: 'deny' }>, rule: StandingRule): Promise<void> {
  const devices = await deps.prisma.device.findMany({ where: { id: { in: verdict.targets }, orgId: input.orgId }, select: { id: true, name: true }, orderBy: { name: 'asc' } });
  const now = new Date();
  const data = {
    orgId: input.orgId,
    sessionId: input.sessionId,
    workflowId: copilotWorkflowId(input.orgId, input.sessionId),
    invocationId,
    tier: verdict.tier,
    digest: verdict.digest,
    toolName: input.toolUse.name.slice(0, 100),
    input: verdict.parsed as Prisma.InputJsonValue,
    targets: devices as unknown as Prisma.InputJsonValue,
    summary: describeCall(input.toolUse.name, (verdict.parsed ?? {}) as Record<string, unknown>, devices.map((d) => d.name)),
    requestedBy: input.userId,
    status: 'approved',
    expiresAt: new Date(rule.expiresAt),
    decidedBy: rule.author,
    decidedAt: now,
    channel: 'standing',
    reason: `standing approval ${rule.id}`,
    signaledAt: now,
    notifiedAt: now,
    recordedAt: now,
    policyVersion: verdict.policyVersion,
    standingRuleId: rule.id,
  };
  // A retry of this activity finds the approval it made; never one of another call (the id is the call's).
  await deps.prisma.approval.upsert({ where: { invocationId }, create: data, update: {} });
}
