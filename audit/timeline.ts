/**
 * Reads a copilot workflow's history (and its remediation children) into a timeline an auditor can follow: who
 * asked what, each model step, each tool call with its tier and the policy decision, each approval with approver,
 * channel, reason and time, each device command with its device, result and duration, and budget, rate-limit and
 * breaker events. Works on histories fetched from Temporal and on exported files alike, with no database.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;
const EventType = temporal.api.enums.v1.EventType;

export interface TimelineEntry {
  /** ISO time of the event in the history. */
  time: string;
  /** The workflow the event belongs to (the session, or a remediation child). */
  workflowId: string;
  kind:
    | 'session'
    | 'message'
    | 'screening'
    | 'rate_limit'
    | 'budget'
    | 'model'
    | 'tool'
    | 'approval_requested'
    | 'approval'
    | 'command'
    | 'breaker'
    | 'remediation'
    | 'signal';
  text: string;
  details?: Record<string, unknown>;
}

/** Decodes the first payload of a payload list (json/plain or binary/null), or undefined. */
function first(payloads: Payloads): unknown {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return '(undecodable payload)';
  }
}

const iso = (e: HistoryEvent) => {
  const t = e.eventTime;
  if (!t) return '';
  const ms = Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
};

const ms = (a: HistoryEvent, b: HistoryEvent) => new Date(iso(b)).getTime() - new Date(iso(a)).getTime();

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
const short = (s: unknown, n = 160) => {
  const text = String(s ?? '').replace(/\s+/g, ' ').trim();
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
};

/** One line per device command: what ran where, how it ended, and how long the workflow waited for it. */
function commandEntry(command: Obj, status: unknown, took: number): Omit<TimelineEntry, 'time' | 'workflowId'> {
  return {
    kind: 'command',
    text: `command ${String(command.kind)} on device ${String(command.deviceId)}: ${String(status)} in ${took} ms`,
    details: { commandId: command.commandId, deviceId: command.deviceId, kind: command.kind, params: command.params, status, durationMs: took },
  };
}

/** One line per completed (or failed) activity, by activity type. */
function describeActivity(name: string, input: Obj, result: unknown, failed: string | null, took: number): Omit<TimelineEntry, 'time' | 'workflowId'> | null {
  const r = obj(result);
  if (failed) return { kind: 'signal', text: `${name} failed: ${short(failed)}`, details: { activity: name } };
  switch (name) {
    case 'recordUserMessage':
      return input.refused
        ? { kind: 'message', text: `user ${String(input.userId ?? '?')}'s message was refused and never sent to the model: "${short(input.text, 300)}"`, details: { userId: input.userId, turnId: input.turnId, refused: true } }
        : { kind: 'message', text: `user ${String(input.userId ?? '?')} asked: "${short(input.text, 300)}"`, details: { userId: input.userId, turnId: input.turnId } };
    case 'verifyMessageRequest':
      return r.ok === false ? { kind: 'message', text: short(r.reason, 300), details: { turnId: input.turnId, requestId: input.requestId ?? null, claimedUserId: input.claimedUserId ?? null } } : null;
    case 'verifyBreakerReset':
      return r.ok === false ? { kind: 'breaker', text: short(r.reason, 300) } : { kind: 'breaker', text: `circuit breaker reset by ${String(r.userId)}`, details: { userId: r.userId } };
    case 'verifyRemediationControl':
      return r.ok === false ? { kind: 'remediation', text: short(r.reason, 300) } : { kind: 'remediation', text: `${String(r.action)} by ${String(r.userId)}`, details: { action: r.action, userId: r.userId } };
    case 'refuseUnverifiedRequest':
      return { kind: 'signal', text: `${String(input.kind)} signal refused: no request was recorded for it`, details: { claimedUserId: input.claimedUserId ?? null } };
    case 'admitUserMessage':
      // Verification, screen and limits in one step: its refusal reads as the check's own did; admitted, the first
      // model call's reservation when it was booked with it (Patch.BookWithAdmission), as reserveBudget's reads.
      if (r.ok !== false) {
        const booked = r.booked as Obj | undefined;
        return booked ? { kind: 'budget', text: `budget reserved: ${(Number(booked.amountMicros ?? 0) / 1e6).toFixed(4)} USD`, details: { reservationId: booked.reservationId } } : null;
      }
      if (r.stage === 'screen') return { kind: 'screening', text: `message refused by the injection screen: ${short(r.reason)}` };
      if (r.stage === 'rate_limit') return { kind: 'rate_limit', text: `refused by the rate limit: ${short(r.reason)}` };
      return { kind: 'message', text: short(r.reason, 300), details: { turnId: input.turnId, requestId: input.requestId ?? null, claimedUserId: input.claimedUserId ?? null } };
    case 'screenUserMessage':
      return r.ok === false ? { kind: 'screening', text: `message refused by the injection screen: ${short(r.reason)}` } : null;
    case 'checkRateLimits':
      return r.ok === false ? { kind: 'rate_limit', text: `refused by the rate limit: ${short(r.reason)}` } : null;
    case 'reserveBudget':
      return r.ok === false
        ? { kind: 'budget', text: `refused by the budget: ${short(r.reason)}` }
        : { kind: 'budget', text: `budget reserved: ${(Number(r.amountMicros ?? 0) / 1e6).toFixed(4)} USD`, details: { reservationId: r.reservationId } };
    case 'callModel': {
      const uses = Array.isArray(r.toolUses) ? (r.toolUses as Obj[]) : [];
      const calls = uses.map((u) => String(u.name)).join(', ');
      return {
        kind: 'model',
        text: `model step ${String(input.step ?? '')}: ${calls ? `asked for ${calls}` : `answered "${short(r.text, 200)}"`} (${took} ms)`,
        details: { stopReason: r.stopReason, toolUses: uses.map((u) => ({ name: u.name, input: u.input })) },
      };
    }
    case 'authorizeToolCall': {
      const use = obj(input.toolUse);
      const tool = `${String(use.name)}(${short(JSON.stringify(use.input ?? {}), 120)})`;
      // The policy version it was decided under (histories from before versions have none).
      const under = typeof r.policyVersion === 'number' ? ` under policy v${r.policyVersion}` : '';
      const version = typeof r.policyVersion === 'number' ? { policyVersion: r.policyVersion } : {};
      if (r.decision === 'deny') return { kind: 'tool', text: `tool ${tool}: denied by policy${under}: ${short(r.reason)}`, details: { invocationId: r.invocationId, decision: 'deny', ...version } };
      const standing = typeof r.standingApprovalId === 'string' ? ` by standing approval ${r.standingApprovalId}` : '';
      const needs = r.decision === 'approve' ? `needs approval (T${String(r.tier)})` : `allowed (T${String(r.tier)})${standing}`;
      return { kind: 'tool', text: `tool ${tool}: ${needs}${under}`, details: { invocationId: r.invocationId, decision: r.decision, tier: r.tier, targets: r.targets, ...(r.targetsInRecord ? { targetsInRecord: true } : {}), ...version, ...(standing ? { standingApprovalId: r.standingApprovalId } : {}) } };
    }
    case 'requestApproval':
      return { kind: 'approval_requested', text: `approval ${String(r.approvalId)} requested (T${String(input.tier)}), expires ${String(r.expiresAt)}`, details: { approvalId: r.approvalId, digest: input.digest, targets: input.targets } };
    case 'verifyApprovalDecision': {
      if (r.valid === false) return { kind: 'approval', text: `approval signal ignored: ${short(r.reason)}`, details: { signal: input.signal } };
      const o = obj(r.outcome);
      const signal = obj(input.signal);
      return {
        kind: 'approval',
        text: `approval ${String(signal.approvalId)} ${String(o.status)} by ${String(o.approverId)} via ${String(o.channel)}${o.reason ? `: "${short(o.reason)}"` : ''}`,
        details: { approvalId: signal.approvalId, status: o.status, approverId: o.approverId, channel: o.channel, reason: o.reason ?? null },
      };
    }
    case 'expireApproval':
    case 'cancelApproval':
      return { kind: 'approval', text: `approval ${String(input.approvalId)} ${String(r.status)}${r.reason ? `: ${short(r.reason)}` : ''}`, details: { approvalId: input.approvalId, status: r.status } };
    case 'recordBreakerTrip':
      return { kind: 'breaker', text: `circuit breaker tripped after ${String(input.streak)} rejections in a row` };
    case 'dispatchDeviceCommand':
      return commandEntry(input, r.status, took);
    case 'runDatabaseTool':
    case 'recordToolResult':
      return { kind: 'tool', text: `tool result: ${String(r.status)}${r.summary ? ` — ${short(r.summary)}` : ''}`, details: { invocationId: r.invocationId, status: r.status, flagged: r.flagged ?? false } };
    default:
      return null;
  }
}

/**
 * The turn steps a session runs as local activities (workflows/activities.ts `steps()`), whose results carry what
 * describeActivity reads of their input.
 */
const LOCAL_TURN_STEPS = new Set([
  'verifyMessageRequest',
  'admitUserMessage',
  'verifyToolCallRequest',
  'screenUserMessage',
  'checkRateLimits',
  'recordUserMessage',
  'reserveBudget',
  'authorizeToolCall',
  'verifyApprovalDecision',
  'runDatabaseTool',
  'recordToolResult',
  'recordLocalDenial',
  'releaseBudget',
]);

/** The timeline of one workflow history. */
export function timelineOf(workflowId: string, history: History): TimelineEntry[] {
  const events = history.events ?? [];
  const byId = new Map<string, HistoryEvent>();
  for (const e of events) byId.set(String(e.eventId), e);
  const out: TimelineEntry[] = [];
  const push = (e: HistoryEvent, entry: Omit<TimelineEntry, 'time' | 'workflowId'> | null) => {
    if (entry) out.push({ time: iso(e), workflowId, ...entry });
  };
  // A workflow queues device commands in batches (queueDeviceCommands: a session its tool call's, a remediation its
  // devices') and reads how each ended once a result signal says to look (older remediations settled on the signal):
  // each command is remembered from its batch until its outcome arrives. Queued by a
  // local activity, a batch shows in the marker recorded when its workflow task completes, which can come after
  // the signal of a fast device: such a result waits for its batch.
  const queued = new Map<string, { command: Obj; at: HistoryEvent }>();
  const early = new Map<string, { status: unknown; at: HistoryEvent }>();
  const settle = (e: HistoryEvent, commandId: unknown, status: unknown) => {
    const q = queued.get(String(commandId));
    if (!q) return void early.set(String(commandId), { status, at: e });
    queued.delete(String(commandId));
    push(e, commandEntry(q.command, status, ms(q.at, e)));
  };
  const queue = (commands: unknown, batch: Obj, at: HistoryEvent) => {
    for (const c of Array.isArray(commands) ? commands.map(obj) : []) {
      queued.set(String(c.commandId), { command: { ...c, kind: batch.kind, params: batch.params }, at });
      const result = early.get(String(c.commandId));
      if (result) {
        early.delete(String(c.commandId));
        settle(result.at, c.commandId, result.status);
      }
    }
  };
  const readsOutcomes = events.some((e) => {
    const a = e.markerRecordedEventAttributes;
    return a?.markerName === 'core_local_activity' && obj(first(a.details?.data)).activity_type === 'readCommandOutcomes';
  });
  let runInput: Obj = {};
  let taskStarted: HistoryEvent | undefined;
  for (const e of events) {
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        taskStarted = e;
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED: {
        // A local activity's result; queueDeviceCommands returns its batch, with its kind and parameters (older
        // remediations' batches did not: theirs are the run's).
        const a = e.markerRecordedEventAttributes;
        if (a?.markerName !== 'core_local_activity') break;
        const localType = obj(first(a.details?.data)).activity_type;
        if (a.failure) {
          if (typeof localType === 'string' && localType !== 'queueDeviceCommands' && localType !== 'readCommandOutcomes') push(e, describeActivity(localType, {}, undefined, a.failure.message ?? 'failed', 0));
          break;
        }
        if (typeof localType === 'string' && LOCAL_TURN_STEPS.has(localType)) {
          // A turn step run as a local activity (workflows/patches.ts LocalTurnSteps): its marker keeps only its result,
          // which carries what the timeline shows of its input (the message, the call, the signal it checked).
          const result = first(a.details?.result);
          push(e, describeActivity(localType, obj(result), result, null, 0));
          break;
        }
        if (localType === 'verifyDecisionAndQueue') {
          // The approval's verification and, for an approval, its call's first batch (workflows/patches.ts
          // QueueWithApproval): the decision as verifyApprovalDecision's, the batch as queueDeviceCommands'.
          const result = obj(first(a.details?.result));
          push(e, describeActivity('verifyApprovalDecision', result, result, null, 0));
          if (result.refused) push(e, { kind: 'tool', text: `device commands refused: ${short(result.refused)}` });
          const batch = result.queued ? obj(result.queued) : null;
          if (batch) {
            queue(batch.commands, batch, taskStarted ?? e);
            for (const c of Array.isArray(batch.settled) ? batch.settled.map(obj) : []) settle(e, c.commandId, c.status);
          }
          break;
        }
        if (localType === 'readCommandOutcomes') {
          // How commands really ended, read from their rows after a result signal said to look.
          const outcomes = obj(first(a.details?.result)).outcomes;
          for (const o of Array.isArray(outcomes) ? outcomes.map(obj) : []) settle(e, o.commandId, o.status);
          break;
        }
        if (localType !== 'queueDeviceCommands') break;
        const result = obj(first(a.details?.result));
        queue(result.commands, result.kind ? result : runInput, taskStarted ?? e);
        for (const c of Array.isArray(result.settled) ? result.settled.map(obj) : []) settle(e, c.commandId, c.status);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const a = e.activityTaskScheduledEventAttributes;
        if (a?.activityType?.name !== 'queueDeviceCommands') break;
        const input = obj(first(a.input));
        queue(input.commands, input, e);
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
        const a = e.workflowExecutionStartedEventAttributes;
        const input = obj(first(a?.input));
        runInput = input;
        push(e, { kind: 'session', text: `${a?.workflowType?.name ?? 'workflow'} started`, details: input });
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
        const scheduled = byId.get(String(done?.scheduledEventId));
        const attrs = scheduled?.activityTaskScheduledEventAttributes;
        if (!scheduled || !attrs) break;
        const name = attrs.activityType?.name ?? '?';
        const failure = e.activityTaskFailedEventAttributes?.failure?.message ?? (e.activityTaskTimedOutEventAttributes ? 'timed out' : null);
        if (name === 'queueDeviceCommands' && !failure) {
          // Only commands already settled come back here; the others by signal.
          const settled = obj(first(e.activityTaskCompletedEventAttributes?.result)).settled;
          for (const c of Array.isArray(settled) ? settled.map(obj) : []) settle(e, c.commandId, c.status);
          break;
        }
        push(e, describeActivity(name, obj(first(attrs.input)), first(e.activityTaskCompletedEventAttributes?.result), failure, ms(scheduled, e)));
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
        const a = e.workflowExecutionSignaledEventAttributes;
        const input = obj(first(a?.input));
        if (a?.signalName === 'commandResults' || a?.signalName === 'remediationResults') {
          // A hint only, for runs that read outcomes from the rows (readCommandOutcomes, above); the oldest
          // remediations settled on the signal's word.
          if (readsOutcomes || a.signalName === 'commandResults') break;
          for (const r of Array.isArray(input.results) ? input.results.map(obj) : []) settle(e, r.commandId, r.status);
        } else if (a?.signalName === 'approvalDecision') {
          push(e, { kind: 'signal', text: `signal approvalDecision: ${String(input.decision)} for ${String(input.approvalId)} from ${String(input.approverId)} via ${String(input.channel)}`, details: { ...input, digest: undefined } });
        } else {
          push(e, { kind: 'signal', text: `signal ${a?.signalName ?? '?'}`, details: input });
        }
        break;
      }
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
        const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
        const input = obj(first(a?.input));
        // Since remediations read their devices from the record, the input gives only their count.
        const devices = typeof input.deviceCount === 'number' ? input.deviceCount : Array.isArray(input.devices) ? input.devices.length : undefined;
        push(e, { kind: 'remediation', text: `${a?.workflowType?.name ?? 'child'} ${a?.workflowId ?? ''} started${devices !== undefined ? ` over ${devices} devices` : ''}`, details: { workflowId: a?.workflowId } });
        break;
      }
      case EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
        const a = e.childWorkflowExecutionCompletedEventAttributes;
        const result = obj(first(a?.result));
        const counts = `${String(result.succeeded ?? 0)} succeeded, ${String(result.failed ?? 0)} failed, ${String(result.skipped ?? 0)} skipped`;
        push(e, {
          kind: 'remediation',
          text: `${a?.workflowExecution?.workflowId ?? 'child'} finished: ${counts}${result.stoppedAtThreshold ? ' (stopped at the failure threshold)' : ''}`,
          details: { ...result, commandIds: undefined },
        });
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        push(e, { kind: 'session', text: 'continued as new (the history goes on in the next run)' });
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        push(e, { kind: 'session', text: 'workflow completed' });
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        push(e, { kind: 'session', text: `workflow failed: ${short(e.workflowExecutionFailedEventAttributes?.failure?.message)}` });
        break;
      default:
        break;
    }
  }
  return out;
}

/** The workflow ids of the children a history started (to export and replay them with their parent). */
export function childWorkflowIds(history: History): string[] {
  return (history.events ?? [])
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => typeof id === 'string');
}

/** The approval decisions the workflow accepted, by approval id (for the cross-check against the audit log). */
export function decidedApprovals(timeline: TimelineEntry[]): Map<string, { status: string; approverId: string; channel: string }> {
  const out = new Map<string, { status: string; approverId: string; channel: string }>();
  for (const t of timeline) {
    const d = t.details ?? {};
    if (t.kind === 'approval' && (d.status === 'approved' || d.status === 'rejected') && typeof d.approvalId === 'string') {
      out.set(d.approvalId, { status: String(d.status), approverId: String(d.approverId), channel: String(d.channel) });
    }
  }
  return out;
}
