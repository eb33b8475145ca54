/**
 * What the REST API answers: the zod schema of every route's success body, by domain. The api's routes declare
 * them (api/http/route.ts checks each answer against its schema outside production and puts them in
 * /openapi.json); the CLI and the tests take their types from here instead of describing the answers again.
 * Times are ISO-8601 strings; JSON columns (a call's input, its targets) are whatever was stored.
 */
import { z } from 'zod';
import type { TurnState } from './session';

const Id = z.string();
const Time = z.string();
const OrgRef = z.object({ id: Id, slug: z.string(), name: z.string() });
const Removed = z.object({ removed: z.boolean() });

// ---- system and agents ------------------------------------------------------------------------------------

const Probe = z.enum(['up', 'down']);
const Dependency = z.enum(['temporal', 'postgres', 'redis']);
export const LiveAnswer = z.object({ status: z.literal('ok') });
export const ReadyAnswer = z.object({
  status: z.enum(['ready', 'not ready']),
  services: z.object({ temporal: Probe, postgres: Probe, redis: Probe }),
  down: z.array(Dependency).describe('the dependencies that did not answer; empty when ready'),
});
export const EnrolledAnswer = z.object({ deviceId: Id, secret: z.string(), orgId: Id, siteId: Id, name: z.string(), commandKey: z.string() });

export const EnrollmentKeyAnswer = z.object({
  id: Id,
  prefix: z.string(),
  site: z.string(),
  siteId: Id,
  maxUses: z.number(),
  useCount: z.number(),
  expiresAt: Time,
  revokedAt: Time.nullable(),
  createdAt: Time,
});
export const EnrollmentKeyCreatedAnswer = z.object({ key: z.string(), org: z.string(), site: z.string(), maxUses: z.number(), expiresAt: Time });
export const EnrollmentKeysAnswer = z.object({ org: z.string(), keys: z.array(EnrollmentKeyAnswer) });

// ---- sessions ---------------------------------------------------------------------------------------------

const Usage = (() => {
  const Period = z.object({ period: z.string().optional(), limitUsd: z.number(), spentUsd: z.number(), reservedUsd: z.number(), remainingUsd: z.number() });
  return z.object({ today: Period, month: Period, hourlyCeilingUsd: z.number(), customBudget: z.boolean() });
})();

export const SessionCreatedAnswer = z.object({ id: Id, org: OrgRef, workflowId: z.string(), temporalUrl: z.string() });
export const MessageAcceptedAnswer = z.object({ sessionId: Id, turnId: z.string() });
export const TranscriptEntry = z.object({
  id: Id,
  turnId: z.string(),
  role: z.string(),
  text: z.string(),
  toolCalls: z.array(z.string().optional()),
  refused: z.boolean().optional(),
  /** A tools/call an MCP client made: its turn has one tool step and no model step. */
  toolCall: z.boolean().optional(),
  createdAt: Time,
});
/** A command of the step still waiting for its device (it can be cancelled until it is sent). */
export const WaitingCommand = z.object({
  commandId: z.string(),
  device: z.string(),
  online: z.boolean(),
  lastSeenAt: Time.nullable(),
  status: z.enum(['pending', 'delivered']),
  expiresAt: Time,
});
export const CommandCancelledAnswer = z.object({ id: z.string(), device: z.string(), kind: z.string(), status: z.literal('failed'), errorCode: z.literal('CANCELLED') });
export const SessionStep = z.object({
  id: Id,
  turnId: z.string(),
  tool: z.string(),
  tier: z.number().nullable(),
  decision: z.string().nullable(),
  status: z.string(),
  summary: z.string().nullable(),
  flagged: z.boolean(),
  createdAt: Time,
  completedAt: Time.nullable(),
  /** Commands of the call still waiting for their device or running on it; empty once the call has finished. */
  waiting: z.array(WaitingCommand),
});
/** What the session's read and a turn's read both show: the guards, what the session waits for, and the records. */
const LiveAndRecords = {
  breaker: z.object({ streak: z.number().optional(), tripped: z.boolean() }).nullable(),
  paused: z.boolean(),
  pendingApproval: z.object({ approvalId: Id, tool: z.string(), tier: z.number(), expiresAt: Time }).nullable(),
  usage: Usage.nullable(),
  rateLimits: z.object({ userMessages: z.object({ used: z.number().nullable(), max: z.number(), windowSeconds: z.number() }) }),
  stateError: z.string().optional(),
  transcript: z.array(TranscriptEntry),
  steps: z.array(SessionStep),
};
export const SessionAnswer = z.object({
  id: Id,
  org: OrgRef,
  userId: Id,
  startedVia: z.enum(['api', 'mcp']),
  mcpClient: z.string().nullable(),
  workflowId: z.string(),
  temporalUrl: z.string(),
  status: z.string(),
  /** The workflow's turns (common/session.ts `TurnState`), empty when its live state is unavailable. */
  turns: z.array(z.custom<TurnState>((t) => typeof t === 'object' && t !== null)),
  ...LiveAndRecords,
});
/** One turn (GET /v1/sessions/:id/turns/:turnId): what a client waiting on it reads. */
export const TurnAnswer = z.object({
  sessionId: Id,
  turnId: z.string(),
  /** queued, running, answered, refused, failed; unknown when the workflow did not answer or no longer holds the turn. */
  status: z.string(),
  answer: z.string().nullable(),
  error: z.string().nullable(),
  /** An earlier turn of the session still queued or running: this one runs when it ends. */
  behind: z.object({ turnId: z.string(), status: z.string() }).nullable(),
  sessionStatus: z.string(),
  ...LiveAndRecords,
});
export const BreakerResetAnswer = z.object({ sessionId: Id, breaker: z.string().describe('reset') });
export const SessionsAnswer = z.object({
  org: OrgRef,
  sessions: z.array(
    z.object({
      id: Id,
      userId: Id,
      title: z.string().nullable(),
      createdAt: Time,
      workflowId: z.string(),
      temporalUrl: z.string(),
      /** Started by the REST api (CLI, console) or by an MCP client at /mcp, which named itself `mcpClient`. */
      startedVia: z.enum(['api', 'mcp']),
      mcpClient: z.string().nullable(),
    }),
  ),
});
export const TimelineAnswer = z.object({
  id: Id,
  workflowId: z.string(),
  temporalUrl: z.string(),
  /** `policyVersion`: on a tool call's entry, the org's policy version it was decided under. */
  entries: z.array(z.object({ time: z.string(), workflowId: z.string(), kind: z.string(), text: z.string(), policyVersion: z.number().optional() })),
  crossCheck: z.unknown(),
  alteredEvents: z.unknown(),
});

// ---- devices ----------------------------------------------------------------------------------------------

export const DevicesAnswer = z.object({
  devices: z.array(
    z.object({
      org: z.string(),
      id: Id,
      name: z.string(),
      hostname: z.string(),
      os: z.string(),
      site: z.string(),
      group: z.string().nullable(),
      online: z.boolean(),
      lastSeenAt: Time.nullable(),
    }),
  ),
});
export const DeviceUpdatedAnswer = z.object({ id: Id, name: z.string(), siteId: Id, groupId: Id.nullable() });

// ---- approvals and remediations ---------------------------------------------------------------------------

export const ApprovalAnswer = z.object({
  id: Id,
  orgId: Id,
  sessionId: Id,
  tool: z.string(),
  tier: z.number(),
  summary: z.string(),
  input: z.unknown(),
  targets: z.unknown(),
  digest: z.string(),
  confirmationPhrase: z.string().nullable(),
  requestedBy: Id,
  requestedByEmail: z.string().nullable(),
  status: z.string(),
  expiresAt: Time,
  decidedBy: Id.nullable(),
  decidedAt: Time.nullable(),
  channel: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: Time,
  /** Approving it needs a passkey assertion (T4; T3 where the org asks). */
  passkeyRequired: z.boolean().optional(),
  /** It was approved with a passkey (the assertion is stored with the decision). */
  passkeySigned: z.boolean().optional(),
  /** The policy version the call was decided under. */
  policyVersion: z.number().nullable().optional(),
  /** The standing approval that approved it (channel "standing"), or the one this decision created. */
  standingRuleId: z.string().nullable().optional(),
});
export const ApprovalsAnswer = z.object({ approvals: z.array(ApprovalAnswer) });

const RemediationCount = z.number().optional();
export const RemediationAnswer = z.object({
  id: Id,
  sessionId: Id,
  workflowId: z.string(),
  state: z.enum(['not_started', 'running', 'paused', 'canary-failed', 'cancelled', 'finished']),
  total: RemediationCount,
  running: RemediationCount,
  succeeded: RemediationCount,
  failed: RemediationCount,
  skipped: RemediationCount,
  cancelled: RemediationCount,
  stoppedAtThreshold: z.boolean().optional(),
  percent: RemediationCount,
  devices: z.array(z.object({ id: Id, name: z.string(), status: z.string().optional() })).optional(),
  /** The canary stage, when the call asked for one: its devices run first and must pass their check. */
  canary: z
    .object({
      devices: z.array(z.object({ id: Id, name: z.string() })),
      state: z.enum(['running', 'verifying', 'passed', 'failed']),
      failures: z.array(z.object({ device: z.string(), deviceId: Id, reason: z.string() })),
      /** What an approver may choose now (empty unless the run waits in canary-failed). */
      choices: z.array(z.enum(['continue', 'cancel', 'rollback'])),
      /** While it waits: what continuing asks of the approver, as approving the call did (T4: the phrase; a passkey where the approval needed one). */
      continueNeeds: z.object({ confirmationPhrase: z.string().nullable(), passkey: z.boolean() }).optional(),
      decision: z.enum(['continue', 'cancel', 'rollback']).optional(),
      decidedBy: Id.optional(),
      undone: z.array(z.object({ device: z.string(), deviceId: Id, status: z.string() })).optional(),
    })
    .optional(),
});
export const CanaryDecisionAnswer = z.object({ id: Id, decision: z.enum(['continue', 'cancel', 'rollback']) });
export const RemediationRequestedAnswer = z.object({ id: Id, requested: z.enum(['pause', 'resume', 'cancel']), stateBefore: z.string() });

// ---- organizations ----------------------------------------------------------------------------------------

export const OrgWithRoles = OrgRef.extend({ roles: z.array(z.object({ role: z.string(), siteIds: z.array(Id) })) });
export const OrgsAnswer = z.object({ orgs: z.array(OrgWithRoles) });
export const OrgCreatedAnswer = OrgRef.extend({ sites: z.array(z.object({ id: Id, name: z.string() })) });
export const SitesAnswer = z.object({
  org: z.string(),
  sites: z.array(z.object({ id: Id, name: z.string(), devices: z.number(), groups: z.array(z.object({ id: Id, name: z.string(), devices: z.number() })) })),
});
export const SiteCreatedAnswer = z.object({ id: Id, name: z.string(), org: z.string() });
export const GroupCreatedAnswer = z.object({ id: Id, name: z.string(), siteId: Id });
export const RemovedAnswer = Removed;

export const CopilotSwitchAnswer = z.object({ org: z.string(), paused: z.boolean(), sessionsSignalled: z.number() });
const Override = z.object({ tool: z.string(), action: z.string(), tier: z.number() });
export const PolicyAnswer = z.object({
  /** Tool → its tier, or action → tier for tools with actions (common/default-policy.ts). */
  defaults: z.record(z.string(), z.unknown()),
  overrides: z.array(Override.extend({ setBy: Id, updatedAt: Time })),
  approvalTtlSeconds: z.object({ t3: z.number(), t4: z.number() }),
  /** The version in force (the highest number): every tool call and approval records the one it was decided under. */
  version: z.object({ number: z.number(), createdAt: Time, createdBy: z.string().nullable(), reason: z.string() }),
  /** More than this many devices raises a T2/T3 call one tier (default 10). */
  blastRadiusThreshold: z.number(),
  /** Rejections in a row that trip a session's breaker (default 3). */
  breakerStreak: z.number(),
  /** The least tier of a call after flagged content, and of one with an argument from a tool's output (3 or 4). */
  taint: z.object({ flaggedContentMinTier: z.number(), provenanceMinTier: z.number() }),
  /** The org's spend ceilings in USD; null: the deployment's defaults (GET /v1/orgs/:id/usage shows those in force). */
  budget: z.object({ dailyUsd: z.number(), monthlyUsd: z.number(), hourlyUsd: z.number() }).nullable(),
  /** A partner admin allowed this org's admins to lower a tier below its default (PUT /v1/orgs/:id/policy/lowering). */
  loweringAllowed: z.boolean(),
  /** The org's upstream MCP tools: the tier their registration gives them (the default) and the org's override (null: none). */
  upstreamTools: z.array(z.object({ tool: z.string(), upstream: z.string(), name: z.string(), status: z.string(), registeredTier: z.number(), override: z.number().nullable() })),
  /** The limits in force: the org's own where its admins set one (`custom`), the defaults otherwise. */
  rateLimits: z.object({
    userMessagesPerMinute: z.number(),
    orgMessagesPerHour: z.number(),
    toolCallsPerUser: z.record(z.string(), z.object({ max: z.number(), windowSeconds: z.number() })),
    custom: z.object({ userMessagesPerMinute: z.number().nullable(), orgMessagesPerHour: z.number().nullable(), toolCallsPerUser: z.record(z.string(), z.number()) }),
  }),
});
/** A policy version as lists show it (docs/policy.md). */
const PolicyVersionKind = z.enum(['initial', 'edit', 'rollback', 'standing-approval', 'standing-revoke']);
export const PolicyVersionRef = z.object({
  /** 0 is the defaults an org runs under before anyone saved a policy. */
  number: z.number(),
  createdAt: Time,
  /** The author's email; null for the initial version (made by the migration) and the defaults. */
  createdBy: z.string().nullable(),
  reason: z.string(),
});
export const PolicySavedAnswer = z.object({ org: z.string(), overrides: z.array(Override), version: z.number() });
export const PolicyVersionsAnswer = z.object({ versions: z.array(PolicyVersionRef.extend({ kind: PolicyVersionKind })) });
export const PolicyVersionAnswer = PolicyVersionRef.extend({
  kind: PolicyVersionKind,
  /** The whole document of this version (common/policy-document.ts). */
  document: z.unknown(),
  /** What changed since version n-1 (the defaults for version 1). */
  diff: z.array(z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })),
});
/** `expired`: it would have needed an approval, and its recorded decision came after the proposal's expiry. */
const WhatIfOutcome = z.object({ outcome: z.enum(['allowed', 'approval', 'denied', 'expired']), tier: z.number().nullable() });
export const WhatIfAnswer = z.object({
  window: z.object({ from: Time, to: Time }),
  callsConsidered: z.number(),
  sessionsConsidered: z.number(),
  /** Recorded calls that could not be re-decided: made before their policy inputs were recorded, or denied before the policy looked at them. */
  callsSkipped: z.number(),
  changed: z.array(
    z.object({
      toolCallId: z.string(),
      sessionId: Id,
      at: Time,
      tool: z.string(),
      action: z.string().nullable(),
      devices: z.array(z.string()),
      before: WhatIfOutcome,
      after: WhatIfOutcome,
      /** Why it would be decided so: the tier's reasons, the policy's refusal, the rate limit, or the expiry. */
      why: z.string(),
    }),
  ),
  /** How many more (fewer) changes would have waited for an approver; only the first 500 are listed in `changed`. */
  changedTotal: z.number(),
  approvals: z.object({
    added: z.number(),
    removed: z.number(),
    /** Approvals whose recorded decision would have come after the proposal's expiry (the call would not have run). */
    expired: z.number(),
    perApprover: z.array(z.object({ approver: z.string(), added: z.number(), removed: z.number() })),
    perDay: z.array(z.object({ day: z.string(), added: z.number(), removed: z.number() })),
  }),
  approverTime: z.object({ medianDecisionSeconds: z.number().nullable(), addedSeconds: z.number(), removedSeconds: z.number() }),
  standingApprovalsSaved: z.number(),
});
export const StandingApprovalsAnswer = z.object({
  standing: z.array(
    z.object({
      id: Id,
      tool: z.string(),
      action: z.string().nullable(),
      params: z.unknown(),
      devices: z.array(z.object({ id: Id, name: z.string().nullable() })),
      /** The approver who made it (email). */
      author: z.string(),
      createdAt: Time,
      expiresAt: Time,
      /** The policy version that added it. */
      version: z.number(),
      /** Calls it let through. */
      uses: z.number(),
    }),
  ),
});
export const StandingRevokedAnswer = z.object({ revoked: Id, version: z.number() });
export const PolicyRolledBackAnswer = z.object({ org: z.string(), version: z.number(), toVersion: z.number() });
export const UsageAnswer = Usage.extend({ org: z.string() });
/** PUT /v1/orgs/:id/budget: the usage against the new ceilings and the policy version that holds them. */
export const BudgetSavedAnswer = UsageAnswer.extend({ version: z.number() });
export const OrgStatusAnswer = z.object({
  org: OrgRef,
  paused: z.boolean(),
  pausedAt: Time.nullable(),
  pausedBy: z.string().nullable(),
  trippedBreakers: z.array(z.object({ sessionId: Id, trippedAt: Time })),
});
export const EmailApprovalsAnswer = z.object({ org: z.string(), signInForEveryTier: z.boolean(), signInForT4: z.boolean() });

export const ScriptAnswer = z.object({
  name: z.string(),
  description: z.string(),
  interpreter: z.string(),
  body: z.string(),
  bodySha256: z.string(),
  parameters: z.unknown(),
  /** The library scripts that check and undo it (a remediation canary's read-back and roll back). */
  check: z.string().nullable(),
  undo: z.string().nullable(),
  updatedAt: Time,
});
export const ScriptsAnswer = z.object({ org: z.string(), scripts: z.array(ScriptAnswer) });
export const ScriptRemovedAnswer = z.object({ removed: z.string() });

// ---- upstream MCP servers --------------------------------------------------------------------------------

export const UpstreamToolAnswer = z.object({
  name: z.string().describe('the name in the catalog: upstream.<server>.<tool>'),
  upstreamName: z.string().describe("the upstream's own name of the tool"),
  title: z.string().nullable(),
  description: z.string(),
  inputSchema: z.unknown(),
  sha256: z.string().describe('SHA-256 of the pinned definition (name, title, description, input schema in canonical JSON)'),
  tier: z.number().int(),
  status: z.enum(['enabled', 'changed', 'flagged']),
  findings: z.array(z.string()),
  pending: z
    .object({ title: z.string().nullable(), description: z.string(), inputSchema: z.unknown(), sha256: z.string() })
    .nullable()
    .describe('what the upstream announces now, when it differs from the pinned definition: approve it by its sha256'),
});
export const UpstreamAnswer = z.object({
  name: z.string(),
  transport: z.enum(['stdio', 'http']),
  command: z.string().nullable(),
  args: z.array(z.string()),
  url: z.string().nullable(),
  createdAt: Time,
  tools: z.array(UpstreamToolAnswer),
  refusedTools: z.array(z.string()).optional().describe('tools the upstream lists whose names cannot be catalog names (not registered)'),
});
export const UpstreamsAnswer = z.object({ org: z.string(), upstreams: z.array(UpstreamAnswer) });
export const UpstreamRemovedAnswer = z.object({ removed: z.string() });

// ---- audit ------------------------------------------------------------------------------------------------

export const AuditSessionsAnswer = z.object({ org: z.string(), sessions: z.array(z.object({ id: Id, workflowId: z.string(), userId: Id, createdAt: Time })) });
export const AuditExportAnswer = z.object({ manifest: z.unknown(), files: z.record(z.string(), z.string()) });
export const CodecAnswer = z.object({ payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()).optional(), data: z.string().optional() })) });

// ---- Slack ------------------------------------------------------------------------------------------------

export const SlackChannelAnswer = z.object({ org: z.string(), teamId: z.string(), channelId: z.string() });
export const SlackLinkAnswer = z.object({ teamId: z.string(), slackUserId: z.string(), email: z.string().optional(), linkedAt: Time });
export const SlackLinksAnswer = z.object({ links: z.array(SlackLinkAnswer) });
export const SlackLinkRemovedAnswer = z.object({ removed: z.boolean(), teamId: z.string(), slackUserId: z.string() });

// ---- people, roles and keys -------------------------------------------------------------------------------

export const SignedInAnswer = z.object({
  user: z.object({ id: Id, email: z.string(), name: z.string(), partnerAdmin: z.boolean() }),
  orgs: z.array(OrgWithRoles),
  /** Null for an API key: only cookie sessions need one. */
  csrfToken: z.string().nullable(),
});
export const SignedOutAnswer = z.object({ signedOut: z.boolean() });
export const PasswordChangedAnswer = z.object({ changed: z.boolean() });
export const UserAnswer = z.object({ id: Id, email: z.string(), name: z.string(), partnerAdmin: z.boolean(), disabled: z.boolean(), canSignIn: z.boolean() });
export const UsersAnswer = z.object({
  users: z.array(UserAnswer.extend({ bindings: z.array(z.object({ id: Id, orgId: Id, role: z.string(), siteIds: z.array(Id) })) })),
});
// Single sign-on (api/routes/sso.ts): a partner's identity providers (never their client secret) and its sign-in switch.
export const OidcProviderAnswer = z.object({ id: Id, name: z.string(), issuer: z.string(), clientId: z.string(), emailDomains: z.array(z.string()), redirectUri: z.string(), createdAt: Time });
export const OidcProvidersAnswer = z.object({ providers: z.array(OidcProviderAnswer) });
export const SignInSettingsAnswer = z.object({ localPasswords: z.boolean(), providers: z.number() });
export const PasswordResetSentAnswer = z.object({ sentTo: z.string(), expiresAt: Time });
export const BindingAnswer = z.object({ id: Id, userId: Id, email: z.string(), role: z.string(), siteIds: z.array(Id) });
export const BindingsAnswer = z.object({ org: z.string(), bindings: z.array(BindingAnswer) });
export const BindingCreatedAnswer = BindingAnswer.extend({ org: z.string() });
export const ApiKeyAnswer = z.object({ id: Id, name: z.string(), prefix: z.string(), createdAt: Time, lastUsedAt: Time.nullable(), revokedAt: Time.nullable(), expiresAt: Time.nullable() });
export const MemberApiKeysAnswer = z.object({ keys: z.array(ApiKeyAnswer.extend({ owner: z.string() })) });
export const ApiKeysAnswer = z.object({ keys: z.array(ApiKeyAnswer) });
export const ApiKeyCreatedAnswer = ApiKeyAnswer.extend({ key: z.string() });

/** Never sent: the route always refuses (its errors are its answers). */
export const NoAnswer = z.never();

export type LiveAnswer = z.infer<typeof LiveAnswer>;
export type ReadyAnswer = z.infer<typeof ReadyAnswer>;
export type SessionCreatedAnswer = z.infer<typeof SessionCreatedAnswer>;
export type MessageAcceptedAnswer = z.infer<typeof MessageAcceptedAnswer>;
export type SessionAnswer = z.infer<typeof SessionAnswer>;
export type TurnAnswer = z.infer<typeof TurnAnswer>;
export type SessionsAnswer = z.infer<typeof SessionsAnswer>;
export type ApprovalAnswer = z.infer<typeof ApprovalAnswer>;
export type ApprovalsAnswer = z.infer<typeof ApprovalsAnswer>;
export type RemediationAnswer = z.infer<typeof RemediationAnswer>;
export type OrgsAnswer = z.infer<typeof OrgsAnswer>;
export type SignedInAnswer = z.infer<typeof SignedInAnswer>;

// The remote terminal (api/routes/terminals.ts).
export const TerminalRecordingAnswer = z.object({
  id: Id,
  terminalId: Id,
  device: z.string(),
  user: z.string(),
  cols: z.number(),
  rows: z.number(),
  openedAt: Time,
  closedAt: Time.nullable(),
  closeReason: z.string().nullable(),
  exitCode: z.number().nullable(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  castBytes: z.number(),
  sha256: z.string().nullable(),
});
export const TerminalAnswer = z.object({
  id: Id,
  orgId: Id,
  deviceId: Id,
  device: z.string(),
  requestedBy: Id,
  requestedByEmail: z.string().nullable(),
  reason: z.string(),
  windowSeconds: z.number(),
  tier: z.number(),
  status: z.string(),
  approvalId: Id.nullable(),
  workflowId: z.string(),
  approvedAt: Time.nullable(),
  windowEndsAt: Time.nullable(),
  endedAt: Time.nullable(),
  endReason: z.string().nullable(),
  createdAt: Time,
  recordings: z.array(TerminalRecordingAnswer),
});
export const TerminalsAnswer = z.object({ org: z.string(), terminals: z.array(TerminalAnswer) });
export const TerminalRecordingsAnswer = z.object({ org: z.string(), recordings: z.array(TerminalRecordingAnswer) });
export const TerminalCastAnswer = z.object({
  recording: TerminalRecordingAnswer,
  /** The asciicast v2 file, as stored. */
  cast: z.string(),
  /** Whether the stored file still has the SHA-256 sealed into the audit chain at its close (null: not closed yet). */
  verified: z.boolean().nullable(),
});
export const PasskeyAnswer = z.object({ id: z.string(), name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() });
export const PasskeysAnswer = z.object({ passkeys: z.array(PasskeyAnswer) });
export const PasskeyRuleAnswer = z.object({ org: z.string(), requireForT3: z.boolean(), requireForT4: z.boolean() });
/** WebAuthn options for the browser (@simplewebauthn/browser's optionsJSON), as @simplewebauthn/server made them. */
export const WebAuthnOptionsAnswer = z.object({ challenge: z.string() }).passthrough();
export const NothingAnswer = z.object({});
export const WebSessionsAnswer = z.object({
  sessions: z.array(z.object({ id: z.string(), signedInAt: z.string().nullable(), idleExpiresAt: z.string(), browser: z.string(), current: z.boolean() })),
});
export const SignedOutEverywhereAnswer = z.object({ signedOut: z.number() });
export const OAuthGrantView = z.object({
  id: z.string(),
  client: z.object({ id: z.string(), name: z.string() }),
  orgs: z.array(z.object({ id: z.string(), slug: z.string(), name: z.string() })),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export const OAuthGrantsAnswer = z.object({ grants: z.array(OAuthGrantView) });
export const OAuthGrantRevokedAnswer = z.object({ revoked: z.literal(true) });
