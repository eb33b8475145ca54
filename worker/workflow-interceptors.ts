/**
 * Workflow interceptors, bundled with the workflows and run inside Temporal's sandbox. They carry a request's trace
 * into the workflow and out of it again, to the activities and the child workflow it starts.
 *
 * A session's workflow runs for many turns, each started by an update (one API request), so that one trace follows
 * one message: the context of the update that queued each turn is remembered by its turn id. A turn's first
 * activity names its turn; the ones after it (the approval's verification among them) belong to the turn that is
 * running, since a session runs one at a time. A workflow without turns (a remediation) uses the context it was
 * started with.
 *
 * Runs started since `Patch.WorkflowSpans` also make workflow spans with @temporalio/interceptors-opentelemetry's
 * own interceptors: the run, each update and signal, each activity and child workflow started (`StartActivity:…`,
 * parent of the worker's `RunActivity:…`). Those interceptors await inside the handlers they wrap, which moves when
 * an update completes; a history recorded without them would not replay. So the patch decides per run: histories
 * recorded before it only forward the context (a header on a command is not part of what replay compares), and a
 * run that reaches new code mid-way starts its spans at the point its history marks.
 *
 * The spans reach the worker by the `exporter` sink (never called while replaying; worker/create-worker.ts).
 */
import * as otel from '@opentelemetry/api';
import { extractContextFromHeaders, TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { OpenTelemetryInboundInterceptor, OpenTelemetryOutboundInterceptor, OpenTelemetryInternalsInterceptor } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { Payload } from '@temporalio/common';
import {
  patched,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type SignalInput,
  type StartChildWorkflowExecutionInput,
  type UpdateInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { Patch } from '../workflows/patches';

/** Turns remembered at most (a long session's older ones are long finished). */
const MAX_TURNS = 50;

const turnIdOf = (value: unknown): string | undefined => {
  const id = (value as { turnId?: unknown } | null | undefined)?.turnId;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
};

class WorkflowTracing {
  private readonly turns = new Map<string, Payload>();
  private started: Payload | undefined;
  private current: Payload | undefined;
  private readonly spansIn = new OpenTelemetryInboundInterceptor();
  private readonly spansOut = new OpenTelemetryOutboundInterceptor();

  /** Whether this run makes spans: the patch's answer (it is the same at the same point of every replay). */
  private spans(): boolean {
    return patched(Patch.WorkflowSpans);
  }

  readonly inbound: WorkflowInboundCallsInterceptor = {
    execute: (input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) => {
      this.started = input.headers[TRACE_HEADER];
      return this.spans() ? this.spansIn.execute(input, next) : next(input);
    },
    // Without spans the handler's own promise is returned as it is: an `await` here would complete the update later
    // than a history recorded without spans says it did.
    handleUpdate: (input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) => {
      const trace = input.headers[TRACE_HEADER];
      const done = this.spans() ? this.spansIn.handleUpdate(input, next) : next(input);
      if (trace) {
        void done.then(
          (result) => this.remember(turnIdOf(result), trace),
          () => undefined,
        );
      }
      return done;
    },
    handleSignal: (input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>) =>
      this.spans() ? this.spansIn.handleSignal(input, next) : next(input),
  };

  private remember(turnId: string | undefined, trace: Payload): void {
    if (!turnId) return;
    this.turns.set(turnId, trace);
    if (this.turns.size > MAX_TURNS) this.turns.delete(this.turns.keys().next().value!);
  }

  /** The trace context for a command: the turn its input names, or the turn running now, or the run's. */
  private traceFor(args: unknown[]): Payload | undefined {
    const turnId = turnIdOf(args[0]);
    if (turnId && this.turns.has(turnId)) this.current = this.turns.get(turnId);
    return this.current ?? this.started;
  }

  /**
   * Starts a command in its turn's trace. With spans, the package's interceptor makes the `StartActivity:…` span
   * as a child of that context and writes its own into the header; without, the context is forwarded as it came.
   */
  private start<I extends { headers: Record<string, Payload> }, R>(input: I, args: unknown[], withSpan: (input: I) => Promise<R>, plain: (input: I) => Promise<R>): Promise<R> {
    const trace = this.traceFor(args);
    if (!this.spans()) return plain(trace && !input.headers[TRACE_HEADER] ? { ...input, headers: { ...input.headers, [TRACE_HEADER]: trace } } : input);
    const parent = trace ? extractContextFromHeaders({ [TRACE_HEADER]: trace }) : undefined;
    return parent ? otel.context.with(parent, () => withSpan(input)) : withSpan(input);
  }

  readonly outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) =>
      this.start(input, input.args, (i) => this.spansOut.scheduleActivity(i, next), next),
    scheduleLocalActivity: (input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>) =>
      this.start(input, input.args, (i) => this.spansOut.scheduleLocalActivity(i, next), next),
    startChildWorkflowExecution: (input: StartChildWorkflowExecutionInput, next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>) =>
      this.start(input, input.options.args ?? [], (i) => this.spansOut.startChildWorkflowExecution(i, next), next),
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  const tracing = new WorkflowTracing();
  return { inbound: [tracing.inbound], outbound: [tracing.outbound], internals: [new OpenTelemetryInternalsInterceptor()] };
};
