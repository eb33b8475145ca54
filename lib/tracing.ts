/**
 * OpenTelemetry traces. `startTracing` starts the SDK (`@opentelemetry/sdk-node`, OTLP over HTTP) only when an
 * endpoint is configured; without one nothing is loaded and every helper below goes through the API's no-op
 * tracer: no span is made, no context is carried, no frame field is sent.
 *
 * Spans carry names, kinds, ids of our own records and outcomes. Never a secret, a prompt, a script body or a
 * command's output: span attributes are exported to whoever runs the collector.
 *
 * The trace context crosses processes as a W3C `traceparent` string: in Temporal headers (the interceptors), in
 * a device command's row and its frames to and from the agent (common/protocol.ts), and in HTTP headers.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { IResource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

export { SpanKind };
export type { Context, Span };

export interface Tracing {
  /** Where spans made elsewhere in this process (a workflow's, handed over by a sink) are sent: batched, like ours. */
  readonly processor: SpanProcessor;
  /** What every span of this process says about it (its service name). */
  readonly resource: IResource;
  /** Flushes what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Starts tracing for this process as `serviceName`, or returns undefined (nothing started) without an endpoint. */
export async function startTracing(opts: { endpoint?: string; serviceName: string }): Promise<Tracing | undefined> {
  if (!opts.endpoint) return undefined;
  // Loaded only when tracing is on: the agent ships to endpoints, and a process without an endpoint pays nothing.
  const [{ NodeSDK }, { OTLPTraceExporter }, { Resource }, { BatchSpanProcessor }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const exporter = new OTLPTraceExporter({ url: new URL('/v1/traces', opts.endpoint).toString() });
  const resource = new Resource({ 'service.name': opts.serviceName });
  // Sent every second: a turn's spans are in the backend while the operator still looks at its answer.
  const processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const sdk = new NodeSDK({
    resource,
    spanProcessors: [processor],
    // No automatic instrumentation: our spans are made where a hop happens, with attributes we chose.
    instrumentations: [],
    autoDetectResources: false,
  });
  sdk.start();
  return {
    processor,
    resource,
    async shutdown() {
      await sdk.shutdown();
      // Back to the API's no-ops: nothing carries a context any more, and tracing may be started again.
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

const tracer = () => trace.getTracer('gatehouse');

/** The W3C traceparent of `ctx` (the active context by default), or undefined when tracing is off or there is none. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a traceparent names (for a span's parent); the root context when there is none. */
export function contextOf(traceparent: string | null | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/** The context of incoming HTTP headers (traceparent, tracestate). */
export function contextOfHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/**
 * Runs `fn` in a span named `name`, child of `parent` (the active context by default), active for everything
 * `fn` starts. A throw marks the span as an error (its message is not recorded: it may quote input) and rethrows.
 */
export async function inSpan<T>(name: string, opts: { parent?: Context; kind?: SpanKind; attributes?: Attributes }, fn: (span: Span) => Promise<T> | T): Promise<T> {
  return tracer().startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, opts.parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Starts a span the caller ends (an HTTP request ends when its response does). */
export function startSpan(name: string, opts: { parent?: Context; kind?: SpanKind; attributes?: Attributes }): Span {
  return tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, opts.parent ?? context.active());
}

/**
 * Runs `fn` with `span` active; listeners added to `emitters` later run with it active too (a request's body is
 * read in stream callbacks, which would otherwise run outside it).
 */
export function withSpan<T>(span: Span, fn: () => T, emitters: NodeJS.EventEmitter[] = []): T {
  const ctx = trace.setSpan(context.active(), span);
  for (const emitter of emitters) context.bind(ctx, emitter);
  return context.with(ctx, fn);
}

export const markError = (span: Span) => span.setStatus({ code: SpanStatusCode.ERROR });
