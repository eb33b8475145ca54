/** Builds the Temporal worker: the workflow bundle and every activity, with dependencies passed in. */
import Anthropic from '@anthropic-ai/sdk';
import type { PayloadCodec } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { SerializableSpan } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { type InjectedSinks, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { GatehouseSinks } from '../common/sinks';
import { createActivities, type ActivityDeps } from '../activities';
import { guardConfig, modelEndpoint, type Env } from '../lib/env';
import { upstreamRules } from '../lib/mcp-upstream';
import { RateLimiter } from '../lib/rate-limiter';
import type { Redis } from '../lib/redis';
import type { Logger } from '../lib/logger';
import type { WorkerMetrics } from '../lib/metrics';
import { dataConverterOf } from '../lib/payload-codec';
import type { Tracing } from '../lib/tracing';
import type { Database } from '../lib/prisma';
import { Channel } from '../lib/pg-events';
import { sessionEventPayload, type SessionEvent } from '../lib/session-events';

export const WORKFLOWS_PATH = require.resolve('../workflows');
/** The workflow interceptors (they forward trace context): always in the bundle, so tracing on or off runs the same code. */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflow-interceptors')];
/**
 * What the workflow bundle is built from. A bundle prebuilt with these options (the tests build one per jest run)
 * is the same code a worker would bundle itself; bundle-affecting options (interceptor modules, a payload
 * converter) belong here so both paths keep them.
 */
export const WORKFLOW_BUNDLE_OPTIONS = { workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES };
/** The same, as Worker.create takes them when it bundles the workflows itself. */
export const WORKER_BUNDLING_OPTIONS = { workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } };

export function createAnthropic(env: Env): { client: Anthropic; offline: boolean } {
  const endpoint = modelEndpoint(env);
  return {
    client: new Anthropic({
      apiKey: endpoint.apiKey,
      baseURL: endpoint.baseURL,
      maxRetries: 1,
      timeout: 120_000,
      // The SDK's own span of each call (model, tokens, timing) joins our trace. Pinned here, so no environment
      // variable can turn on its content mode (the prompt and the answer as span attributes), and our trace ids are
      // not sent to the model's provider.
      openTelemetry: { propagation: false, traces: { enabled: true, contentMode: 'metadata_only' } },
    }),
    offline: endpoint.offline,
  };
}

export function activityDeps(env: Env, { prisma, pool }: Database, redis: Redis, logger: Logger, metrics: WorkerMetrics): ActivityDeps {
  const anthropic = createAnthropic(env);
  return {
    prisma,
    pool,
    logger,
    limiter: new RateLimiter(redis, env.RATE_KEY_PREFIX),
    guards: guardConfig(env),
    anthropic: anthropic.client,
    model: { name: env.ANTHROPIC_MODEL, maxTokens: env.MODEL_MAX_TOKENS, offline: anthropic.offline },
    commands: { ttlSeconds: env.COMMAND_TTL_SECONDS },
    discovery: { allowLoopback: env.DISCOVERY_ALLOW_LOOPBACK },
    mcpUpstream: upstreamRules(env),
    metrics,
  };
}

/**
 * The sinks workflows call (common/sinks.ts); never during replay, so a replayed turn is not counted again, its end
 * not announced again, and a replayed span is not sent twice. `announce` tells the console's watchers of an event
 * (the worker's: over NOTIFY; none where nobody watches, as in replay tests); `endTurn` clears the session's running
 * turn in the database (the worker's: `markTurnEnded`).
 */
export function sinksOf(
  metrics: WorkerMetrics,
  opts: { tracing?: Tracing; announce?: (event: SessionEvent) => void; endTurn?: (turn: { sessionId: string; turnId: string }) => void } = {},
): InjectedSinks<GatehouseSinks> {
  const announce = opts.announce ?? (() => undefined);
  const endTurn = opts.endTurn ?? (() => undefined);
  return {
    metrics: { turnEnded: { fn: (_info, outcome) => metrics.turns.inc({ outcome }), callDuringReplay: false } },
    sessionEvents: {
      turnEnded: {
        fn: (_info, e) => {
          endTurn(e);
          announce({ sessionId: e.sessionId, turnId: e.turnId, type: 'turn:ended', status: e.status });
        },
        callDuringReplay: false,
      },
    },
    exporter: workflowSpans(opts.tracing),
  };
}

/**
 * A session's turn ended: it is no longer marked running (activities/request-record.ts sets the mark), so the kill
 * switch stops telling the session until its next turn. Only that turn's mark is cleared: a late clear never ends
 * the next turn's. Not awaited, as `announcer`'s NOTIFY: a mark left behind (this failed, or the worker died first)
 * costs that session one signal at the next pause, and is cleared when its next turn ends.
 */
function markTurnEnded(deps: ActivityDeps): (turn: { sessionId: string; turnId: string }) => void {
  return ({ sessionId, turnId }) =>
    void deps.pool
      .query({
        name: 'sessions.turn-ended',
        text: 'UPDATE "CopilotSession" SET "activeTurnId" = NULL WHERE "id" = $1::uuid AND "activeTurnId" = $2',
        values: [sessionId, turnId],
      })
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message, sessionId }, "a turn's end could not be recorded; the kill switch will tell this session once more"));
}

/**
 * Session events the workflow itself tells (common/sinks.ts), NOTIFYed as the activities' are. Not awaited: the worker
 * processes sinks before it completes the workflow task, which must not wait on this; the event is a hint (a watcher
 * that misses it reads at its next poll), so a failure is logged and nothing else.
 */
function announcer(deps: ActivityDeps): (event: SessionEvent) => void {
  return (event) =>
    void deps.pool
      .query({ name: 'session-events.announce', text: 'SELECT pg_notify($1, $2)', values: [Channel.SessionEvents, sessionEventPayload(event)] })
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message, sessionId: event.sessionId, type: event.type }, 'a session event could not be announced; watchers read at their next poll'));
}

/**
 * Workflow spans join the worker's own (its service name, its batches); dropped while tracing is off. The package's
 * exporter copies the whole WorkflowInfo onto each span (memo and last result among it): only the run's names go.
 * An error's message is not sent either (it may quote input), only that the span failed.
 */
function workflowSpans(tracing: Tracing | undefined): InjectedSinks<GatehouseSinks>['exporter'] {
  if (!tracing) return { export: { fn: () => undefined, callDuringReplay: false } };
  const exporter = makeWorkflowExporter(tracing.processor, tracing.resource);
  const namesOf = ({ namespace, taskQueue, workflowId, runId, workflowType }: WorkflowInfo) => ({ namespace, taskQueue, workflowId, runId, workflowType });
  const bare = (span: SerializableSpan): SerializableSpan => ({ ...span, events: [], status: { code: span.status.code } });
  return {
    export: {
      // The exporter only reads the info's fields to copy them: the names stand in for the whole of it.
      fn: (info, spans) => exporter.export.fn(namesOf(info) as WorkflowInfo, spans.map(bare)),
      callDuringReplay: false,
    },
  };
}

/**
 * Activity spans (OpenTelemetry; no-ops while tracing is off), children of the request that started their turn:
 * the workflow interceptors forward its context in Temporal's headers.
 */
const activityInterceptors = [(ctx: Context) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) })];

export async function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Encrypts what the worker hands to Temporal and decrypts what it reads (lib/payload-codec.ts). */
  payloadCodec: PayloadCodec;
  /** A bundle built from WORKFLOW_BUNDLE_OPTIONS; without one the worker bundles workflows/ as it starts. */
  workflowBundle?: { codePath: string };
  /** This process's tracing, when on: workflow spans go where the worker's go. */
  tracing?: Tracing;
  extra?: Partial<WorkerOptions>;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle, interceptors: { activity: activityInterceptors } } : { ...WORKER_BUNDLING_OPTIONS, interceptors: { ...WORKER_BUNDLING_OPTIONS.interceptors, activity: activityInterceptors } }),
    activities: createActivities(opts.deps),
    // Codecs run outside the workflow sandbox: nothing of them goes into the bundle.
    dataConverter: dataConverterOf(opts.payloadCodec),
    sinks: sinksOf(opts.deps.metrics, { ...(opts.tracing ? { tracing: opts.tracing } : {}), announce: announcer(opts.deps), endTurn: markTurnEnded(opts.deps) }),
    ...opts.extra,
  });
}
