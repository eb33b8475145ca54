/**
 * Workflow interceptors, bundled with the workflows and run inside Temporal's sandbox. They only forward the trace
 * context (the `_tracer-data` header that @temporalio/interceptors-opentelemetry's client interceptor writes and its
 * activity interceptor reads) from the request that started a turn to the activities and the child workflow of
 * that turn. They make no span and never wait: a header on a command is not part of what replay compares, so
 * histories recorded before tracing existed replay unchanged. (The package's own workflow interceptors add yield
 * points that replay of those histories past their first workflow task does not expect: a determinism break.)
 *
 * A session's workflow runs for many turns, each started by an update (one API request), so that one trace
 * follows one message: the context of the update that queued each turn is remembered by its turn id. A turn's first
 * activity names its turn; the ones after it (the approval's verification among them) belong to the turn that is
 * running, since a session runs one at a time. A workflow without turns (a remediation) passes on the context it
 * was started with.
 */
import type { Payload } from '@temporalio/common';
import type {
  ActivityInput,
  LocalActivityInput,
  Next,
  StartChildWorkflowExecutionInput,
  UpdateInput,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header @temporalio/interceptors-opentelemetry carries the W3C context in (its TRACE_HEADER). */
const TRACE_HEADER = '_tracer-data';
/** Turns remembered at most (a long session's older ones are long finished). */
const MAX_TURNS = 50;

const turnIdOf = (value: unknown): string | undefined => {
  const id = (value as { turnId?: unknown } | null | undefined)?.turnId;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
};

class TraceForwarding {
  private readonly turns = new Map<string, Payload>();
  private started: Payload | undefined;
  private current: Payload | undefined;

  readonly inbound: WorkflowInboundCallsInterceptor = {
    execute: (input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) => {
      this.started = input.headers[TRACE_HEADER];
      return next(input);
    },
    // The handler's own promise is returned as it is: an `await` here would complete the update later than the
    // history says it did.
    handleUpdate: (input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) => {
      const trace = input.headers[TRACE_HEADER];
      const done = next(input);
      if (trace) {
        void done.then(
          (result) => this.remember(turnIdOf(result), trace),
          () => undefined,
        );
      }
      return done;
    },
  };

  private remember(turnId: string | undefined, trace: Payload): void {
    if (!turnId) return;
    this.turns.set(turnId, trace);
    if (this.turns.size > MAX_TURNS) this.turns.delete(this.turns.keys().next().value!);
  }

  /** The headers of a command for the turn its input names, or for the turn running now, or for the run. */
  private headers<H extends Record<string, Payload>>(args: unknown[], headers: H): H {
    const turnId = turnIdOf(args[0]);
    if (turnId && this.turns.has(turnId)) this.current = this.turns.get(turnId);
    const trace = this.current ?? this.started;
    return trace && !headers[TRACE_HEADER] ? { ...headers, [TRACE_HEADER]: trace } : headers;
  }

  readonly outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) => next({ ...input, headers: this.headers(input.args, input.headers) }),
    scheduleLocalActivity: (input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>) =>
      next({ ...input, headers: this.headers(input.args, input.headers) }),
    startChildWorkflowExecution: (input: StartChildWorkflowExecutionInput, next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>) =>
      next({ ...input, headers: this.headers(input.options.args ?? [], input.headers) }),
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  const forwarding = new TraceForwarding();
  return { inbound: [forwarding.inbound], outbound: [forwarding.outbound] };
};
