/**
 * The approval activities: create the request, verify a signalled decision against the one recorded by the
 * decision service, expire it, or cancel it (kill switch). The database row is the single record of a decision;
 * the workflow only acts on a signal that matches it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Approval, Prisma } from '@prisma/client';
import { FailureType } from '../common/failures';
import { copilotWorkflowId } from '../common/ids';
import type { ApprovalDecisionSignal, ApprovalOutcome } from '../common/session';
import { BREAKER_THRESHOLD } from '../common/session';
import { approvalExpiresAt, approvalTtlSeconds } from '../common/policy-document';
import { isToolName, Tier, type ToolExecution } from '../common/tools';
import { parseQualifiedName } from '../lib/mcp-upstream';
import { confirmationPhrase } from '../cage/approval-digest';
import { assertionProblem, passkeyRequired, passkeyRequiredBy, StoredAssertion, type SignedAct } from '../lib/passkey-assertion';
import { elideMiddle } from '../cage/call-view';
import { detect } from '../cage/injection-detector';
import { approvalAuthority, approverSitesFrom, approverSitesOf } from '../lib/approval-authority';
import { audit } from '../audit/log';
import { publishSessionEvent, type SessionEvent } from '../lib/session-events';
import { currentPolicy, policyVersion } from '../lib/policy-store';
import type { ActivityDeps } from './deps';
import { tripBreaker } from './breaker';
import { assertCallersSession, assertSession, turnAuthor } from './session-identity';
import { readDecision, recordVerifiedDecision, type DecisionContext, type RecordedApproval } from './decision-record';
import { argumentProvenance } from './provenance';
import { readDecisionAndBatch, recordApprovedBatch } from './approved-commands';
import { recordQueryOf } from './command-authority';
import { afterQueued, makeBatchCheck, type QueueDeviceCommandsInput, type QueuedDeviceCommands } from './queue-device-commands';

export interface RequestApprovalInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  invocationId: string;
  tier: number;
  digest: string;
  /** Every device the call touches, as authorization resolved them (a group or site becomes its devices). */
  targets: string[];
  /** `targets` is left out (a remediation's devices): they are read from the invocation's record. */
  targetsInRecord?: boolean;
}

/** The devices authorization recorded for a remediation; none when the record is no remediation (fail closed). */
function recordedRemediationDevices(execution: unknown): string[] {
  const e = execution as ToolExecution | null;
  if (e?.type !== 'remediation') throw ApplicationFailure.nonRetryable('the call names its devices on its record, but the record is no remediation; the call was not run', FailureType.InvalidInput);
  return e.devices;
}

/**
 * A one-line description of the call for approvers: the tool, its arguments (ids left out) and the devices. A long
 * one loses its middle, never its end (where a payload would hide), and says so; the exact call is shown beside it.
 */
export function describeCall(tool: string, input: Record<string, unknown>, deviceNames: string[]): string {
  const args = Object.entries(input)
    .filter(([k]) => k !== 'device_id' && k !== 'device_ids')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const on = deviceNames.length > 3 ? `${deviceNames.length} devices` : deviceNames.join(', ');
  return elideMiddle(`${tool}${args ? ` ${args}` : ''}${on ? ` on ${on}` : ''}`, 500);
}

/**
 * A remediation's canary, told to the approver: which devices go first, and that this one approval also covers the
 * read-back of those devices and, should a failed canary be rolled back, the action's undo on them.
 */
export function canaryNote(execution: unknown, devices: { id: string; name: string }[]): string {
  const canary = (execution as ToolExecution | null)?.type === 'remediation' ? (execution as Extract<ToolExecution, { type: 'remediation' }>).canary : undefined;
  if (!canary) return '';
  const names = canary.devices.map((id) => devices.find((d) => d.id === id)?.name ?? id);
  const check = canary.check ? `checked (${'service' in canary.check.expect ? `${canary.check.expect.service} must be ${canary.check.expect.status.toLowerCase()}` : `check script ${String(canary.check.params.name)} must pass`})` : 'checked (the action must succeed)';
  const undoing = canary.undo && (canary.undo.kind === 'run_script' ? `script ${String(canary.undo.params.name)}` : `${canary.undo.kind} ${String(canary.undo.params.action)}`);
  const undo = undoing ? `, and the undo (${undoing}) on them if an approver rolls back a failed canary` : '';
  return ` — canary: ${elideMiddle(names.join(', '), 200)} run${names.length === 1 ? 's' : ''} first and ${names.length === 1 ? 'is' : 'are'} ${check} before the others start; a failed canary waits for an approver. This approval covers the canary's read-back${undo}.`;
}

/** The call's description and, when some of its arguments came from device output, which and from where. */
function withProvenance(summary: string, provenance: string): string {
  return provenance ? `${summary} — ${elideMiddle(`from device output: ${provenance}`, 400)}` : summary;
}

/** The call's tier, digest and devices as authorization recorded them; a request that differs is refused and audited. */
async function assertAsRecorded(prisma: ActivityDeps['prisma'], inv: { id: string; sessionId: string; turnId: string; decision: string; tier: number | null; digest: string | null; policyInputs: unknown }, input: RequestApprovalInput): Promise<void> {
  const devices = (inv.policyInputs as { devices?: unknown } | null)?.devices;
  const recorded = { tier: inv.tier, digest: inv.digest, targets: Array.isArray(devices) ? [...(devices as string[])].sort() : null };
  const claimed = { tier: input.tier, digest: input.digest, targets: input.targetsInRecord ? recorded.targets : [...new Set(input.targets)].sort() };
  const same =
    inv.decision === 'approve' &&
    inv.sessionId === input.sessionId &&
    inv.turnId === input.turnId &&
    claimed.tier === recorded.tier &&
    claimed.digest === recorded.digest &&
    recorded.targets !== null &&
    claimed.targets !== null &&
    claimed.targets.join(',') === recorded.targets.join(',');
  if (same) return;
  const cap = (t: string[] | null) => t && t.slice(0, 50);
  await audit(prisma, {
    orgId: input.orgId,
    actorType: 'system',
    actorId: input.sessionId,
    sessionId: input.sessionId,
    action: 'security.approval_request_refused',
    target: inv.id,
    data: { invocationId: inv.id, turnId: input.turnId.slice(0, 100), claimed: { ...claimed, targets: cap(claimed.targets) }, recorded: { ...recorded, targets: cap(recorded.targets) } },
  }).catch(() => undefined);
  throw ApplicationFailure.nonRetryable('the approval asked for is not the call authorization recorded (its tier, digest or devices differ); nobody was asked and nothing was run', FailureType.Unauthorized);
}

export function makeRequestApproval({ prisma, metrics }: ActivityDeps) {
  return async function requestApproval(input: RequestApprovalInput): Promise<{ approvalId: string; expiresAt: string }> {
    // Approvers are asked only on behalf of the session's own workflow, and never while its breaker is tripped.
    await assertSession(prisma, input, 'requestApproval', { breaker: true, onBreakerTrip: () => metrics.breakerTrips.inc() });
    const existing = await prisma.approval.findUnique({ where: { invocationId: input.invocationId } });
    if (existing) {
      // A retry of this activity finds its own approval. Anything else under this invocation id (another call, another
      // session) is never reused: its decision was made for a different digest.
      if (existing.digest === input.digest && existing.sessionId === input.sessionId) return { approvalId: existing.id, expiresAt: existing.expiresAt.toISOString() };
      await audit(prisma, { orgId: input.orgId, actorType: 'system', actorId: input.sessionId, sessionId: input.sessionId, action: 'approval.reuse_refused', target: existing.id, data: { invocationId: input.invocationId, digest: input.digest, approvalDigest: existing.digest } });
      throw ApplicationFailure.nonRetryable('an approval for a different call already exists under this invocation id; the call was not run', FailureType.InvalidInput);
    }

    const [inv, session] = await Promise.all([
      prisma.toolInvocation.findUnique({ where: { id: input.invocationId } }),
      prisma.copilotSession.findUnique({ where: { id: input.sessionId }, select: { id: true } }),
    ]);
    // A catalog tool, or an upstream MCP server's (upstream.<server>.<tool>), as authorization recorded it.
    if (!inv || !session || !(isToolName(inv.toolName) || parseQualifiedName(inv.toolName))) throw ApplicationFailure.nonRetryable('tool invocation not found', FailureType.NotFound);
    // What approvers are asked about is the call authorization recorded, not what the caller says it is: activity
    // arguments are anyone's who reaches Temporal, and a lower tier (no typed phrase, no passkey) or other devices on
    // the card (the digest binds the real ones, but people read the devices) would get a human to approve something else.
    await assertAsRecorded(prisma, inv, input);
    // The requester is whoever wrote this turn (an admin may post into a technician's session), not the session's owner.
    const requestedBy = await turnAuthor(prisma, input.sessionId, input.turnId);
    if (!requestedBy) throw ApplicationFailure.nonRetryable('the author of this turn is not recorded; the call was not run', FailureType.NotFound);
    // The record's targets are those authorization resolved, the same the digest binds; never more from the workflow.
    const targets = input.targetsInRecord ? recordedRemediationDevices(inv.execution) : input.targets;
    const devices = await prisma.device.findMany({ where: { id: { in: targets }, orgId: input.orgId }, select: { id: true, name: true }, orderBy: { name: 'asc' } });
    // The expiry of the policy the call was decided under (its version is on the call's row), else the one in force.
    const policy = (inv.policyVersion !== null ? await policyVersion(prisma, input.orgId, inv.policyVersion) : null) ?? (await currentPolicy(prisma, input.orgId));
    const ttl = approvalTtlSeconds(policy.document, input.tier);
    const approval = await prisma.approval.create({
      data: {
        orgId: input.orgId,
        sessionId: input.sessionId,
        workflowId: copilotWorkflowId(input.orgId, input.sessionId),
        invocationId: input.invocationId,
        tier: input.tier,
        digest: input.digest,
        toolName: inv.toolName,
        input: inv.input as Prisma.InputJsonValue,
        targets: devices as unknown as Prisma.InputJsonValue,
        summary: withProvenance(describeCall(inv.toolName, inv.input as Record<string, unknown>, devices.map((d) => d.name)) + canaryNote(inv.execution, devices), await argumentProvenance(prisma, input.sessionId, inv.toolName, inv.input, [...devices.map((d) => d.id), ...devices.map((d) => d.name)])),
        confirmationPhrase: input.tier >= Tier.T4 ? confirmationPhrase(devices) : null,
        requestedBy,
        status: 'pending',
        expiresAt: approvalExpiresAt(new Date(), ttl),
        policyVersion: policy.number,
      },
    });
    await audit(prisma, {
      orgId: input.orgId,
      actorType: 'model',
      actorId: input.sessionId,
      sessionId: input.sessionId,
      action: 'approval.requested',
      target: approval.id,
      data: { tool: inv.toolName, tier: input.tier, digest: input.digest, expiresAt: approval.expiresAt.toISOString(), requestedBy },
    });
    await publishSessionEvent(prisma, { sessionId: input.sessionId, turnId: input.turnId, type: 'approval:requested', tool: inv.toolName, tier: input.tier, approvalId: approval.id, text: approval.summary });
    return { approvalId: approval.id, expiresAt: approval.expiresAt.toISOString() };
  };
}

/** Only the workflow of the approval's own session may expire or withdraw it. */
async function assertApprovalOfCaller(prisma: ActivityDeps['prisma'], approvalId: string, activity: string): Promise<void> {
  const approval = await prisma.approval.findUnique({ where: { id: approvalId }, select: { sessionId: true, orgId: true } });
  await assertSession(prisma, { sessionId: approval?.sessionId ?? '', orgId: approval?.orgId ?? '' }, activity);
}

async function markInvocation(prisma: ActivityDeps['prisma'], invocationId: string, outcome: ApprovalOutcome): Promise<void> {
  const mark = invocationMark(outcome);
  if (mark.status === 'running') {
    await prisma.toolInvocation.update({ where: { id: invocationId }, data: { status: 'running' } });
    return;
  }
  await prisma.toolInvocation.update({ where: { id: invocationId }, data: { status: 'rejected', summary: mark.summary, completedAt: new Date() } });
}

/** What an outcome makes of the call's invocation: running once approved; otherwise rejected, with why it did not run. */
function invocationMark(outcome: ApprovalOutcome): { status: 'running'; summary: null } | { status: 'rejected'; summary: string } {
  if (outcome.status === 'approved') return { status: 'running', summary: null };
  const summary =
    outcome.status === 'expired'
      ? 'not run: the approval expired without a decision'
      : outcome.status === 'cancelled'
        ? `not run: ${outcome.reason ?? 'cancelled'}`
        : `not run: rejected by an approver${outcome.reason ? ` (${outcome.reason})` : ''}`;
  return { status: 'rejected', summary };
}

/**
 * The decider's authority, checked again from the database at the moment the workflow would act on a recorded
 * decision (the decision service checked it too, but a role can be revoked or narrowed in between, and this is
 * the last wall before the effect): an approver of the org whose sites cover every target, and for a T4 approval
 * nobody who wrote a turn of the session.
 */
async function authorityProblem(prisma: ActivityDeps['prisma'], approval: RecordedApproval, read?: DecisionContext): Promise<string | null> {
  if (!approval.decidedBy || (approval.status !== 'approved' && approval.status !== 'rejected')) return 'no recorded decision';
  const approverSites = read ? approverSitesFrom(read.decider) : await approverSitesOf(prisma, approval.decidedBy, approval.orgId);
  const authority = await approvalAuthority(prisma, approval, { userId: approval.decidedBy, approverSites }, approval.status, read && { siteOf: read.siteOf });
  return authority.ok ? passkeyProblem(prisma, approval, read) : `the decider may not decide this approval: ${authority.message}`;
}

/**
 * Approving T4 (and T3 where the org asks, read now: an org that cannot be read counts as asking) takes effect only
 * with the passkey assertion stored with the decision: made with a passkey registered to the decider and not
 * removed since, over the challenge derived from this approval's digest and id, its signature verifying with the
 * registered public key. The decision service checked it; this is the last wall before the effect, so a decision
 * written to the database some other way (or an assertion swapped in afterwards) never runs anything.
 */
async function passkeyProblem(prisma: ActivityDeps['prisma'], approval: RecordedApproval, read?: DecisionContext): Promise<string | null> {
  if (approval.status !== 'approved') return null;
  if (!(read ? passkeyRequiredBy(approval.tier, read.passkeysForT3) : await passkeyRequired(prisma, approval))) return null;
  return signatureProblem(prisma, approval, { userId: approval.decidedBy, assertion: approval.passkeyAssertion }, 'approval');
}

/** A stored assertion of `act` on this approval by `signer`: a passkey of theirs, not removed, whose signature verifies. */
async function signatureProblem(prisma: ActivityDeps['prisma'], approval: RecordedApproval, signer: { userId: string | null; assertion: unknown }, act: SignedAct): Promise<string | null> {
  const stored = StoredAssertion.safeParse(signer.assertion);
  if (!stored.success) return `T${approval.tier} rules not met: no passkey assertion stored with the decision`;
  const credential = await prisma.passkeyCredential.findUnique({ where: { credentialId: stored.data.credentialId } });
  if (!credential || credential.userId !== signer.userId || credential.removedAt) return `T${approval.tier} rules not met: the passkey is not one the decider has registered`;
  const problem = await assertionProblem(stored.data, approval, credential.publicKey, act);
  return problem ? `T${approval.tier} rules not met: ${problem}` : null;
}

/**
 * Going on past a failed canary approves more of the call, so it takes what approving it took (docs/policy.md), read
 * from the recorded request, never from the update that named it: for T4 the exact confirmation phrase, and where the
 * approval needed a passkey (T4; T3 where the org asks) an assertion by the request's author over the continue's own
 * challenge (derived from this approval's digest and id under another domain than the approval's signature). The
 * author's authority (an approver covering the devices; for T4 nobody who wrote in the session) is checked apart.
 */
export async function continueProofProblem(prisma: ActivityDeps['prisma'], approval: Approval, request: { userId: string; confirmation: string | null; passkeyAssertion: unknown }): Promise<string | null> {
  if (approval.tier >= Tier.T4 && (!approval.confirmationPhrase || request.confirmation !== approval.confirmationPhrase)) return 'T4 rules not met (confirmation phrase)';
  if (!(await passkeyRequired(prisma, approval))) return null;
  return signatureProblem(prisma, approval, { userId: request.userId, assertion: request.passkeyAssertion }, 'canary_continue');
}

/**
 * A signalled decision counts only if the decision service recorded exactly this decision, by this approver, for
 * this digest; the decider still has the authority to make it (approver of the org covering every target's site;
 * for T4 nobody who wrote a turn of the session); for T4, the exact confirmation phrase and a stored passkey
 * assertion over this approval's digest that verifies (T3 too where the org asks). Anything else (a
 * forged or replayed signal, a tampered digest) is ignored and audited; the workflow keeps waiting.
 */
export function makeVerifyApprovalDecision({ prisma, pool }: ActivityDeps) {
  // The signal it checked comes back with the verdict: a local activity's marker keeps only its result, which the audit
  // timeline reads (audit/timeline.ts).
  return async function verifyApprovalDecision({ signal }: { signal: ApprovalDecisionSignal }): Promise<({ valid: true; outcome: ApprovalOutcome } | { valid: false; reason: string }) & { signal?: ApprovalDecisionSignal }> {
    // The approval with its session, the decider's role and sites, the targets' sites and the org's passkey rule: one read.
    const read = await readDecision(pool, signal.approvalId);
    const approval = read?.approval ?? null;
    // Another session's approval is none of this workflow's business: refused before anything is written.
    if (read) await assertCallersSession(prisma, { sessionId: read.approval.sessionId, orgId: read.approval.orgId }, read.context.session, 'verifyApprovalDecision');
    const problem = await decisionProblem(prisma, approval, signal, read?.context);
    if (problem || !approval) return { ...(await ignoreSignal(prisma, approval, signal, problem)), signal };
    const outcome = await screenedOutcome(prisma, approval, outcomeOf(signal));
    // The approval delivered and recorded, the invocation's status, the console's notice: one statement.
    const mark = invocationMark(outcome);
    await recordVerifiedDecision(pool, {
      approvalId: approval.id,
      invocationId: approval.invocationId,
      ...mark,
      event: { sessionId: approval.sessionId, turnId: '', type: 'approval:decided', approvalId: approval.id, status: signal.decision, text: signal.reason },
    });
    return { valid: true, outcome, signal };
  };
}

export interface VerifyDecisionAndQueueInput {
  signal: ApprovalDecisionSignal;
  /** The first batch of the call's commands (as `queueDeviceCommands` takes it), made only if the decision is a verified approval. */
  batch: QueueDeviceCommandsInput;
}

export type DecisionAndQueue =
  | { valid: false; reason: string; signal: ApprovalDecisionSignal }
  | {
      valid: true;
      outcome: ApprovalOutcome;
      signal: ApprovalDecisionSignal;
      /** An approval's batch, as `queueDeviceCommands` answers. */
      queued?: QueuedDeviceCommands;
      /** An approval whose batch the command checks refused (audited by them): nothing was made. */
      refused?: string;
      /** The refusal's failure type (FailureType), for the turn's failure as the checks raised it. */
      refusedType?: string;
    };

/**
 * `verifyApprovalDecision` and, when the verified decision is an approval, `queueDeviceCommands` of the batch it
 * approves, as one step: one read for both (the approval with what its checks read, and the batch's record:
 * activities/approved-commands.ts), the decision's checks and then the command authority's and the session's, the
 * same code in the same order as when they were two steps; then one write (the decision recorded, the rows made and
 * announced). A signal that does not match the record is ignored and audited, and nothing is queued; a batch the
 * command checks refuse is audited by them and never made (the decision is recorded all the same, as before, and
 * the answer says why the call cannot run).
 */
export function makeVerifyDecisionAndQueue(deps: ActivityDeps) {
  const { prisma, pool } = deps;
  const checkBatch = makeBatchCheck(deps);
  return async function verifyDecisionAndQueue({ signal, batch }: VerifyDecisionAndQueueInput): Promise<DecisionAndQueue> {
    const named = recordQueryOf(batch);
    const query = named !== null && typeof named !== 'string' ? named.query : null;
    const read = await readDecisionAndBatch(pool, signal.approvalId, query);
    const approval = read.decision?.approval ?? null;
    // Another session's approval is none of this workflow's business: refused before anything is written.
    if (read.decision) await assertCallersSession(prisma, { sessionId: read.decision.approval.sessionId, orgId: read.decision.approval.orgId }, read.decision.context.session, 'verifyApprovalDecision');
    const problem = await decisionProblem(prisma, approval, signal, read.decision?.context);
    if (problem || !approval) return { ...(await ignoreSignal(prisma, approval, signal, problem)), signal };
    const outcome = await screenedOutcome(prisma, approval, outcomeOf(signal));
    const event: SessionEvent = { sessionId: approval.sessionId, turnId: '', type: 'approval:decided', approvalId: approval.id, status: signal.decision, text: signal.reason };
    const recordDecision = () => recordVerifiedDecision(pool, { approvalId: approval.id, invocationId: approval.invocationId, ...invocationMark(outcome), event });
    if (outcome.status !== 'approved') {
      await recordDecision();
      return { valid: true, outcome, signal };
    }
    // The batch must name the approved call itself: an approval lets through its own call's commands, never another
    // call's (even one approved too). Refused and audited; the decision is recorded, nothing is made, the turn fails.
    const wrongCall = batchOfAnotherCall(named, approval.invocationId);
    if (wrongCall) {
      await audit(prisma, {
        orgId: approval.orgId,
        actorType: 'system',
        action: 'security.command_unauthorized',
        target: batch.commands[0]?.commandId.slice(0, 300) ?? 'none',
        sessionId: approval.sessionId,
        data: { rule: 'approval_invocation', reason: wrongCall, approvalId: approval.id, invocationId: approval.invocationId, kind: String(batch.kind).slice(0, 100), devices: batch.commands.length },
      });
      await recordDecision();
      return { valid: true, outcome, signal, refused: `command refused: ${wrongCall}; nothing was sent`, refusedType: FailureType.Unauthorized };
    }
    let checked;
    try {
      checked = await checkBatch(batch, query && read.record ? { query, record: read.record } : undefined);
    } catch (err) {
      // A refusal of the batch (audited by the check that made it) is the answer; anything else is retried.
      if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
      await recordDecision();
      return { valid: true, outcome, signal, refused: err.message, ...(err.type ? { refusedType: err.type } : {}) };
    }
    if (!checked) {
      await recordDecision();
      return { valid: true, outcome, signal, queued: { kind: batch.kind, params: batch.params, commands: batch.commands, settled: [] } };
    }
    const { created, rows } = await recordApprovedBatch(pool, { approvalId: approval.id, invocationId: approval.invocationId, event, checked });
    return { valid: true, outcome, signal, queued: await afterQueued(prisma, checked, created, rows) };
  };
}

/**
 * Why a batch is not the approved call's own (null when it is, or when it is empty: nothing to make): its command ids
 * must all name the approval's invocation (`recordQueryOf`), so that no approval lets through another call's commands.
 */
export function batchOfAnotherCall(named: ReturnType<typeof recordQueryOf>, approvedInvocationId: string): string | null {
  if (named === null) return null;
  if (typeof named === 'string') return `the batch is not the approved call's: ${named}`;
  return named.query.invocationId === approvedInvocationId ? null : `the batch names tool call ${named.query.invocationId}, not the approved call ${approvedInvocationId}`;
}

/**
 * The checks of a signalled decision against the record, shared by every workflow that waits for an approval (a
 * session's tool call, a terminal request): ignored and audited unless it matches; recorded as delivered if it does.
 * The caller has checked that the approval is its own.
 */
export async function checkRecordedDecision(
  prisma: ActivityDeps['prisma'],
  approval: Approval | null,
  signal: ApprovalDecisionSignal,
): Promise<{ valid: true; outcome: ApprovalOutcome } | { valid: false; reason: string }> {
  const problem = await decisionProblem(prisma, approval, signal);
  if (problem || !approval) return ignoreSignal(prisma, approval, signal, problem);
  const outcome = await screenedOutcome(prisma, approval, outcomeOf(signal));
  await prisma.approval.update({ where: { id: approval.id }, data: { signaledAt: approval.signaledAt ?? new Date(), recordedAt: approval.recordedAt ?? new Date() } });
  return { valid: true, outcome };
}

const outcomeOf = (signal: ApprovalDecisionSignal): ApprovalOutcome => ({ status: signal.decision, approverId: signal.approverId, channel: signal.channel, reason: signal.reason });

/** What the model (and an MCP client) reads instead of an approver's reason the injection screen would refuse. */
export const WITHHELD_REASON = "the approver's reason was withheld: it looks like a prompt injection";

/**
 * An outcome whose reason may reach a model: the rejection's reason becomes the call's tool result (invocationMark)
 * and the step's summary an MCP client reads. An approver types it like a message, so it is screened like one: a
 * reason the screen would refuse is withheld (the approval's record keeps it for people) and the withholding
 * audited. A screen that fails withholds too (fail closed).
 */
async function screenedOutcome(prisma: ActivityDeps['prisma'], approval: Pick<Approval, 'id' | 'orgId' | 'sessionId'>, outcome: ApprovalOutcome): Promise<ApprovalOutcome> {
  if (!outcome.reason) return outcome;
  let detection: ReturnType<typeof detect> | null = null;
  try {
    detection = detect(outcome.reason, 'direct');
    if (detection.verdict === 'clean') return outcome;
  } catch {
    detection = null;
  }
  await audit(prisma, {
    orgId: approval.orgId,
    actorType: 'user',
    actorId: outcome.approverId ?? null,
    action: 'injection.withheld_reason',
    target: approval.id,
    sessionId: approval.sessionId,
    data: detection ? { score: detection.score, categories: detection.findings.map((f) => f.category), detector: detection.version } : { error: 'the injection screen failed' },
  }).catch(() => undefined);
  return { ...outcome, reason: WITHHELD_REASON };
}

/** A signal that does not match the record: ignored, and audited. */
async function ignoreSignal(prisma: ActivityDeps['prisma'], approval: RecordedApproval | null, signal: ApprovalDecisionSignal, problem: string | null): Promise<{ valid: false; reason: string }> {
  await audit(prisma, { orgId: approval?.orgId, actorType: 'user', actorId: signal.approverId, action: 'approval.signal_ignored', target: signal.approvalId, sessionId: approval?.sessionId, data: { reason: problem, channel: signal.channel } });
  return { valid: false, reason: problem ?? 'unknown approval' };
}

/**
 * Why a signalled decision does not count, or null when it matches the record and the decider's authority holds
 * (`read`: what was read with the approval, in place of reading it again).
 */
async function decisionProblem(prisma: ActivityDeps['prisma'], approval: RecordedApproval | null, signal: ApprovalDecisionSignal, read?: DecisionContext): Promise<string | null> {
  return !approval
    ? 'unknown approval'
    : signal.digest !== approval.digest
      ? 'digest does not match the approval'
      : approval.status !== signal.decision
        ? `no recorded ${signal.decision} decision for this approval (it is ${approval.status})`
        : approval.decidedBy !== signal.approverId
          ? 'the approver differs from the recorded decision'
          : approval.tier >= Tier.T4 && signal.decision === 'approved' && signal.confirmation !== approval.confirmationPhrase
            ? 'T4 rules not met (confirmation phrase)'
            : await authorityProblem(prisma, approval, read);
}

/**
 * The approval's time ran out. If a decision was recorded at the last moment, that decision stands, but only after
 * the same authority check as a signalled one: this path must not be a way around it.
 */
export function makeExpireApproval({ prisma }: ActivityDeps) {
  return async function expireApproval({ approvalId }: { approvalId: string }): Promise<ApprovalOutcome> {
    await assertApprovalOfCaller(prisma, approvalId, 'expireApproval');
    const { approval, outcome } = await expireRecordedApproval(prisma, approvalId);
    await markInvocation(prisma, approval.invocationId, outcome);
    return outcome;
  };
}

/** The record's side of an expiry, shared by every workflow that waits for an approval. */
export async function expireRecordedApproval(prisma: ActivityDeps['prisma'], approvalId: string): Promise<{ approval: Approval; outcome: ApprovalOutcome }> {
  const expired = await prisma.approval.updateMany({ where: { id: approvalId, status: 'pending' }, data: { status: 'expired', decidedAt: new Date() } });
  const approval = await prisma.approval.findUniqueOrThrow({ where: { id: approvalId } });
  const decided = approval.status === 'approved' || approval.status === 'rejected';
  const problem = decided ? await authorityProblem(prisma, approval) : null;
  if (problem) {
    await audit(prisma, { orgId: approval.orgId, actorType: 'user', actorId: approval.decidedBy, action: 'approval.signal_ignored', target: approvalId, sessionId: approval.sessionId, data: { reason: problem, channel: approval.channel } });
  }
  const outcome: ApprovalOutcome =
    decided && !problem
      ? await screenedOutcome(prisma, approval, { status: approval.status as 'approved' | 'rejected', approverId: approval.decidedBy ?? undefined, channel: approval.channel ?? undefined, reason: approval.reason ?? undefined })
      : { status: 'expired' };
  await prisma.approval.updateMany({ where: { id: approvalId, recordedAt: null }, data: { recordedAt: new Date() } });
  if (expired.count === 1) {
    await audit(prisma, { orgId: approval.orgId, actorType: 'system', action: 'approval.expired', target: approvalId, sessionId: approval.sessionId, data: { tool: approval.toolName } });
  }
  return { approval, outcome };
}

/** The org was paused while the call waited: the approval is withdrawn and the call does not run. */
export function makeCancelApproval({ prisma }: ActivityDeps) {
  return async function cancelApproval({ approvalId, reason }: { approvalId: string; reason: string }): Promise<ApprovalOutcome> {
    await assertApprovalOfCaller(prisma, approvalId, 'cancelApproval');
    const { approval, outcome } = await cancelRecordedApproval(prisma, approvalId, reason);
    await markInvocation(prisma, approval.invocationId, outcome);
    return outcome;
  };
}

/** The record's side of a withdrawal (kill switch), shared by every workflow that waits for an approval. */
export async function cancelRecordedApproval(prisma: ActivityDeps['prisma'], approvalId: string, reason: string): Promise<{ approval: Approval; outcome: ApprovalOutcome }> {
  await prisma.approval.updateMany({ where: { id: approvalId, status: 'pending' }, data: { status: 'cancelled', reason, decidedAt: new Date() } });
  await prisma.approval.updateMany({ where: { id: approvalId, recordedAt: null }, data: { recordedAt: new Date() } });
  const approval = await prisma.approval.findUniqueOrThrow({ where: { id: approvalId } });
  await audit(prisma, { orgId: approval.orgId, actorType: 'system', action: 'approval.cancelled', target: approvalId, sessionId: approval.sessionId, data: { reason } });
  return { approval, outcome: { status: 'cancelled', reason } };
}

/**
 * The breaker tripped: recorded on the session row, which authorization reads from now on (the workflow's own state
 * is not believed), with its audit event in the same transaction. A retry finds it tripped and records nothing twice.
 */
export function makeRecordBreakerTrip({ prisma, metrics }: ActivityDeps) {
  /** `limit`: the policy's streak the workflow tripped at (absent from workflows that ran before it was sent: the default). */
  return async function recordBreakerTrip(input: { sessionId: string; orgId: string; streak: number; limit?: number }): Promise<void> {
    await assertSession(prisma, input, 'recordBreakerTrip');
    if (await tripBreaker(prisma, input, { streak: input.streak, limit: input.limit ?? BREAKER_THRESHOLD })) metrics.breakerTrips.inc();
  };
}
