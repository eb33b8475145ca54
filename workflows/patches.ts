/**
 * Every patch id of the workflows, in one list, oldest first. A workflow that changes what it schedules asks
 * `patched(Patch.X)`: histories recorded before the change take the old branch (frozen in `./frozen/`) and replay as
 * they ran, every new run takes the new one. An id is part of the histories that carry its marker: never rename one.
 * A patch and its frozen branch go once no history needs replaying with them (`workflows/replay.test.ts` tells).
 */
export const Patch = {
  /** Budget reservations and rate limits before each model call and message. */
  Guards: 'budget-and-rate-limits',
  /** The user's message is screened for injected instructions. */
  ScreenMessage: 'screen-user-message',
  /** A local denial (breaker, pause) is audited by an activity. */
  AuditLocalDenials: 'audit-local-denials',
  /** Messages are verified against the api's record and screened before they are stored. */
  VerifiedTurns: 'verified-screened-turns',
  /** The kill-switch signal is a hint to read the organization's record. */
  PauseFromRecord: 'copilot-paused-from-record',
  /** A breaker reset by signal is refused and audited; resets come through the verified update. */
  RefuseUnverifiedReset: 'refuse-unverified-breaker-reset',
  /** A remediation starts devices in batches (`queueDeviceCommands`), told of results by signal. */
  RemediationBatches: 'remediation-batched-devices',
  /** A remediation's batches are queued by a local activity. */
  RemediationLocalQueue: 'remediation-local-queue',
  /** A remediation run starts up to a thousand devices before it continues as new. */
  RemediationRunsOf1000: 'remediation-runs-of-1000',
  /** A result signal is a hint: outcomes are read from the commands' rows. */
  ResultsFromRows: 'remediation-results-from-rows',
  /** A remediation control by signal is refused and audited; control comes through the verified update. */
  RefuseUnverifiedControl: 'remediation-refuse-unverified-control',
  /**
   * A single tool call's device commands are queued and reported exactly as a remediation's: rows made by
   * `queueDeviceCommands`, results by the `commandResults` signal, outcomes read from the rows.
   */
  OneCommandPath: 'device-commands-one-path',
  /**
   * The run makes workflow spans (OpenTelemetry: the run, each update and signal, each activity and child started).
   * Decided by the trace interceptors (worker/workflow-interceptors.ts), not by a workflow: their spans add awaits
   * that histories recorded without them do not expect.
   */
  WorkflowSpans: 'workflow-spans',
  /**
   * A turn's short checks and records (admitting the message, the budget reservation, authorization, the approval's
   * verification, the tool's result) run as local activities: the same code and checks, in the workflow task that
   * asks for them instead of a round trip through the activity queue each. Model calls stay activities.
   */
  LocalTurnSteps: 'local-turn-steps',
  /**
   * A remediation with a canary runs its canary devices first, then their read-back, and waits for an approver's
   * decision if one fails (continue, cancel, roll back) before any other device starts.
   */
  RemediationCanary: 'remediation-canary',
  /**
   * A remediation reads its approved devices from the invocation's record, a page per run, and continues as new
   * carrying its counts and a cursor, not every device's state: payloads stay the same size for any fleet.
   */
  RemediationDevicesFromRecord: 'remediation-devices-from-record',
  /**
   * The run's local activities run one at a time (workflows/activities.ts `local`): with two in flight, a replay
   * resolved them in another order than they had completed and failed as nondeterministic.
   */
  SerialLocalActivities: 'serial-local-activities',
  /**
   * A single tool call's approval is verified and, when it is an approval, the call's first batch of device commands
   * queued by one local activity (`verifyDecisionAndQueue`): the same checks in the same order, one read and one
   * write, where they were two local activities of two statements each.
   */
  QueueWithApproval: 'queue-with-verified-approval',
  /**
   * A turn's message is verified, screened and checked against the message limits by one local activity
   * (`admitUserMessage`: the same checks, in the same order, each failing closed), then stored: two local
   * activities where there were four.
   */
  OneStepAdmission: 'one-step-admission',
  /**
   * The admission also books the turn's first model call, at the same time as the message limits (one wait for both
   * stores instead of two one after the other); the first call uses that reservation instead of reserving its own.
   */
  BookWithAdmission: 'first-call-booked-with-admission',
  /**
   * A remediation reads hinted results only when it has nothing else to do: no local activity in flight and no
   * device it can start. The batch being queued is awaited, and a hint counts only while its command is still
   * awaited. Which local activity comes next then depends on the activities' results alone, not on whether a result
   * signal reached the workflow in the same activation as a local activity's result or in a later one (a query
   * answered while a local activity finishes makes the two differ between the live run and its replay). A hint stays
   * until its command is settled, whatever a read claimed: a replay delivers a timed-out task's signals with the next
   * task's, so its read may claim hints the live one had not yet got.
   */
  HintsReadWhenIdle: 'remediation-hints-read-when-idle',
  /**
   * A session's tool call counts a result hint only while the hinted command is still awaited, and keeps it until
   * that command is settled, as a remediation does since `HintsReadWhenIdle`: a hint for a command its last read has
   * settled no longer asks for another read (whether the replay resolved that read before the hint's signal or the
   * live run after it), and a read claiming more hints in a replay than it did live (a timed-out task's signals reach
   * the replay with the next task's) leaves the same hints behind. A read that settles nothing waits before the next.
   */
  CallHintsOfAwaitedCommands: 'call-hints-of-awaited-commands',
  /**
   * A session asks for each of its patches once, in its first workflow task, and goes by those answers for the rest
   * of the run (`./run-patches.ts`). Asked where each branch is, a patch's marker went into the workflow task in which
   * the run first got there, often right after a local activity's result; a replay, which may see that result a task
   * earlier (a query answered while the activity finished), asked in another task than the one holding the marker and
   * failed: `[TMPRL1100] Nondeterminism error: Non-deprecated patch marker encountered for change
   * device-commands-one-path, but there is no corresponding change command!` (workflows/hint-grouping.test.ts, once,
   * on a loaded machine).
   */
  PatchesAtStart: 'session-patches-at-start',
} as const;

export type PatchId = (typeof Patch)[keyof typeof Patch];

/**
 * Every patch a session's code asks for, asked in its first workflow task since `PatchesAtStart` (./run-patches.ts).
 * workflows/run-patches.test.ts checks that every `isPatched` of a session's code is here.
 */
export const SESSION_PATCHES = [
  Patch.VerifiedTurns,
  Patch.Guards,
  Patch.OneStepAdmission,
  Patch.BookWithAdmission,
  Patch.LocalTurnSteps,
  Patch.SerialLocalActivities,
  Patch.AuditLocalDenials,
  Patch.QueueWithApproval,
  Patch.OneCommandPath,
  Patch.CallHintsOfAwaitedCommands,
  Patch.RefuseUnverifiedReset,
  Patch.PauseFromRecord,
] as const;
