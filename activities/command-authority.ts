/**
 * The last wall before a device: a command is created only when an authorized tool call asked for it. Whoever can
 * reach the Temporal frontend can start a workflow with input of their choosing (a remediation's devices, command
 * kind and parameters are its input), so the workflow's word is not enough. Every activity that creates a device
 * command reads the invocation it names back from the database: allowed by authorization, or, for T3/T4, approved
 * by a decision bound to the same digest; and the command must be one of those authorization put in the call's
 * execution, with the same kind and parameters. Anything else is refused, audited, and never created. A
 * remediation's canary read-back and undo (ids `<invocation>:canary-check|undo:<device>`) are commands of the same
 * call: let through on its canary devices only, with the kind and parameters authorization put in its canary plan.
 */
import { ApplicationFailure } from '@temporalio/activity';
import canonicalize from 'canonicalize';
import { FailureType } from '../common/failures';
import { invocationOfCommand, stepOfCommandInvocation, type CanaryStep } from '../common/ids';
import { isToolName, toolOf, type ToolExecution } from '../common/tools';
import { audit } from '../audit/log';
import type { Database, PrismaClient } from '../lib/prisma';
import { currentPolicy, liveStanding } from '../lib/policy-store';
import { grantOfInvocation } from './oauth-grant';
import { readCommandRecord, type ApprovalRead, type CommandRecord } from './command-record';

export interface CommandsToCreate {
  orgId: string;
  kind: string;
  params: Record<string, unknown>;
  commands: { commandId: string; deviceId: string }[];
}

/** What an authorized invocation may send: per device, the canonical `kind + params` it authorized. */
type Allowed = Map<string, string>;

/** What the check verified, and what every command it let through carries on its row. */
export interface AuthorizedCommands {
  invocationId: string;
  /** The approved digest (T3/T4), read from the approval the check matched to the call; null when none was needed. */
  approvalDigest: string | null;
  /** The call's session and turn, as authorization recorded them (where a waiting command is announced). */
  call: { sessionId: string; turnId: string; tool: string };
  /** A live read whose offline devices are answered at once from what is known (the call did not ask to wait). */
  answersOffline: boolean;
}

interface Verified extends Omit<AuthorizedCommands, 'invocationId'> {
  allowed: Allowed;
  /** A remediation's canary steps: on its canary devices only. */
  canary: Record<CanaryStep, Allowed>;
}

/**
 * The effect point's own check of a call's approval, for every way a call acts (device commands, our database, an
 * upstream MCP server): a call authorized as needing approval runs only with an approved approval whose digest is
 * the call's. Returns the approved digest (null when none was needed), or why it may not run.
 */
export async function approvalOf(prisma: PrismaClient, inv: { id: string; decision: string; digest: string | null }, read?: ApprovalRead): Promise<{ digest: string | null } | string> {
  if (inv.decision !== 'approve') return { digest: null };
  const approval = read ? read.approval : await prisma.approval.findUnique({ where: { invocationId: inv.id }, select: { status: true, digest: true, channel: true, standingRuleId: true, orgId: true } });
  if (!approval || approval.status !== 'approved') return 'the tool call needs an approval it does not have';
  if (approval.digest !== inv.digest) return 'the approval was given for a different call (digest mismatch)';
  if (approval.channel === 'standing') {
    const problem = await standingProblem(prisma, approval.orgId, approval.standingRuleId, approval.digest);
    if (problem) return problem;
  }
  // A call an MCP client made with an OAuth token waited for its approver; its user may have revoked the grant since.
  const grant = read ? read.grant : await grantOfInvocation(prisma, inv.id);
  if (grant?.revoked) return `the OAuth grant of "${grant.clientName}" was revoked while the call waited for its approval; nothing was run`;
  return { digest: approval.digest };
}

/**
 * A standing approval is an authority of its own: it holds at the effect point only while the policy in force
 * still has the rule, unexpired, for this digest. A rule revoked (or expired) after authorization stops the call
 * here; a policy that cannot be read stops it too.
 */
async function standingProblem(prisma: PrismaClient, orgId: string, ruleId: string | null, digest: string): Promise<string | null> {
  let policy;
  try {
    policy = await currentPolicy(prisma, orgId);
  } catch {
    return "the organization's policy cannot be read, so its standing approval cannot be checked";
  }
  const rule = ruleId ? liveStanding(policy.document, new Date()).find((r) => r.id === ruleId) : undefined;
  if (!rule) return 'the standing approval of this call was revoked or has expired';
  if (rule.digest !== digest) return 'the standing approval was given for a different call (digest mismatch)';
  return null;
}

const commandKey = (kind: string, params: unknown) => canonicalize({ kind, params }) ?? '';

const VERIFIED_CAP = 500;

/** `verified`: authorized invocations are immutable once allowed or approved, so a remediation's batches read one once. */
async function allowedBy(prisma: PrismaClient, verified: Map<string, Verified>, orgId: string, invocationId: string, inv: CommandRecord['invocation']): Promise<Verified | string> {
  const cached = verified.get(invocationId);
  if (cached) return cached;
  if (!inv || inv.orgId !== orgId) return 'no tool call of this organization has this id';
  if (inv.decision !== 'allow' && inv.decision !== 'approve') return `the tool call was not authorized (${inv.decision})`;
  if (!inv.execution || !inv.digest) return 'the tool call has no recorded execution (authorized before commands were bound to it); ask again';
  const approved = await approvalOf(prisma, { id: invocationId, decision: inv.decision, digest: inv.digest }, inv);
  if (typeof approved === 'string') return approved;
  const approvalDigest = approved.digest;
  const execution = inv.execution as unknown as ToolExecution;
  const allowed: Allowed = new Map();
  if (execution.type === 'devices') for (const c of execution.commands) allowed.set(c.deviceId, commandKey(c.kind, c.params));
  const canary: Record<CanaryStep, Allowed> = { check: new Map(), undo: new Map() };
  if (execution.type === 'remediation') {
    const key = commandKey(execution.kind, execution.params);
    for (const deviceId of execution.devices) allowed.set(deviceId, key);
    for (const step of ['check', 'undo'] as const) {
      const command = execution.canary?.[step];
      if (command) for (const deviceId of execution.canary!.devices) canary[step].set(deviceId, commandKey(command.kind, command.params));
    }
  }
  if (verified.size >= VERIFIED_CAP) verified.delete(verified.keys().next().value!);
  // As authorization parsed and recorded the input: whether this read waits for an offline device.
  const live = isToolName(inv.toolName) ? toolOf(inv.toolName).readsLive : undefined;
  const answersOffline = execution.type === 'devices' && live !== undefined && !live.waits(inv.input as never);
  const result = { allowed, canary, approvalDigest, call: { sessionId: inv.sessionId, turnId: inv.turnId, tool: inv.toolName }, answersOffline };
  verified.set(invocationId, result);
  return result;
}

/**
 * The verified invocation with what was read for it (the caller's session and org checks use the same snapshot), or
 * why the commands are refused (none at all: nothing to create, nothing verified).
 */
async function verify(db: Database, verified: Map<string, Verified>, input: CommandsToCreate, read?: PreRead): Promise<VerifiedBatch | string | null> {
  const named = recordQueryOf(input);
  if (named === null || typeof named === 'string') return named;
  const { query, step } = named;
  const { invocationId } = query;
  // Read with other rows by the caller only if it read exactly this (activities/approved-commands.ts); else here.
  const record = read && sameQuery(read.query, query) ? read.record : await readCommandRecord(db.pool, query);
  const found = await allowedBy(db.prisma, verified, input.orgId, invocationId, record.invocation);
  if (typeof found === 'string') return found;
  const key = commandKey(input.kind, input.params);
  const allowed = step === 'run' ? found.allowed : found.canary[step];
  const outside = input.commands.find((c) => allowed.get(c.deviceId) !== key);
  if (outside) return `device ${outside.deviceId} with this command is not part of the authorized call`;
  return { authorized: { invocationId, approvalDigest: found.approvalDigest, call: found.call, answersOffline: found.answersOffline }, record };
}

/**
 * Which record a batch's check reads: the one tool call its command ids name (and the step of it: the call's own
 * command, or a remediation's canary read-back or undo), the batch's org and devices; why the batch is refused
 * outright (ids that name no call, or several); null for an empty batch.
 */
export function recordQueryOf(input: CommandsToCreate): { query: CommandRecordQuery; step: 'run' | CanaryStep } | string | null {
  const invocations = new Set(input.commands.map((c) => invocationOfCommand(c.commandId, c.deviceId)));
  if (invocations.has(null)) return 'a command id does not name its tool call and device';
  if (invocations.size !== 1) return input.commands.length === 0 ? null : 'one batch names several tool calls';
  const { invocationId, step } = stepOfCommandInvocation([...invocations][0]!);
  return { query: { invocationId, orgId: input.orgId, deviceIds: input.commands.map((c) => c.deviceId) }, step };
}

export interface CommandRecordQuery {
  invocationId: string;
  orgId: string;
  deviceIds: string[];
}

/** The record of a batch as its caller read it with other rows, and what it asked for. */
export interface PreRead {
  query: CommandRecordQuery;
  record: CommandRecord;
}

const sameQuery = (a: CommandRecordQuery, b: CommandRecordQuery) =>
  a.invocationId === b.invocationId && a.orgId === b.orgId && a.deviceIds.length === b.deviceIds.length && a.deviceIds.every((d, i) => d === b.deviceIds[i]);

/** A batch the check let through: what its rows carry, and what was read for it (activities/command-record.ts). */
export interface VerifiedBatch {
  authorized: AuthorizedCommands;
  record: CommandRecord;
}

/**
 * The check, with its own memory of verified calls (one per activity, made by its factory): it throws a
 * non-retryable `Unauthorized` failure, audited, unless every command is part of an authorized call; else it returns
 * the invocation and approval digest it verified (null for an empty batch), which the commands' rows carry. `read`:
 * the batch's record as the caller read it with its own rows (the same statement's parts: command-record.ts).
 */
export function createCommandAuthority(db: Database): (input: CommandsToCreate, read?: PreRead) => Promise<VerifiedBatch | null> {
  const verified = new Map<string, Verified>();
  return (input, read) => assertCommandsAuthorized(db, verified, input, read);
}

async function assertCommandsAuthorized(db: Database, verified: Map<string, Verified>, input: CommandsToCreate, read?: PreRead): Promise<VerifiedBatch | null> {
  const { prisma } = db;
  const verdict = await verify(db, verified, input, read);
  if (typeof verdict !== 'string') return verdict;
  const problem = verdict;
  const entry = {
    actorType: 'system',
    action: 'security.command_unauthorized',
    target: input.commands[0]?.commandId.slice(0, 300) ?? 'none',
    data: { rule: 'command_authority', reason: problem, kind: String(input.kind).slice(0, 100), devices: input.commands.length },
  } as const;
  // A forged org id may name no organization: the event is then kept outside any org's chain.
  await audit(prisma, { ...entry, orgId: input.orgId }).catch(() => audit(prisma, entry));
  throw ApplicationFailure.nonRetryable(`command refused: ${problem}; nothing was sent`, FailureType.Unauthorized);
}
