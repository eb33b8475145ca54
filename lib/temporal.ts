/**
 * Temporal client for the api and the CLI tools. Lazy, so the api starts (and reports it) while Temporal is down.
 * Every payload it sends is encrypted by `codec` and every payload it reads decrypted (lib/payload-codec.ts).
 */
import { InterceptingCall, Metadata, status as GrpcStatus, type Interceptor, type InterceptingListener } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { ConnectionOptions, ConnectionPlugin } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Env } from './env';
import { dataConverterOf } from './payload-codec';

export function createTemporalClient(env: Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>, codec: PayloadCodec): Client {
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS, plugins: [new StoppableRetries()] });
  return new Client({ connection, namespace: env.TEMPORAL_NAMESPACE, dataConverter: dataConverterOf(codec), interceptors: clientInterceptors });
}

/** Starting, updating and signalling a workflow carries the active trace context in Temporal's headers. */
export const clientInterceptors = { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };

/**
 * Temporal's own retries of failed gRPC calls (the client's default policy), which can be stopped before the
 * connection closes.
 *
 * Why: @temporalio/client retries a call that failed with UNAVAILABLE and the like on a timer, and
 * `Connection.close()` does not clear that timer. A call still in flight when its connection closes fails as the
 * server goes away, its retry fires on the closed channel, and grpc-js throws "Channel has been shut down" out of the
 * timer, off any awaited path: the process dies with an uncaught exception (CI saw it at test teardown). Once
 * `stop()` is called, nothing reaches the channel again: a failing call fails to its caller instead of being retried,
 * and a retry already waiting on its timer (scheduled before, for a hiccup of the server) gets a CANCELLED status
 * instead of a call on the closed channel. `closeTemporalConnection` stops, then closes.
 */
export class StoppableRetries implements ConnectionPlugin {
  readonly name = 'gatehouse.stoppable-retries';
  private stopped = false;
  private readonly defaults = defaultGrpcRetryOptions();

  configureConnection(options: ConnectionOptions): ConnectionOptions {
    if (options.interceptors) throw new Error('StoppableRetries replaces the default retry interceptor: pass no other interceptors');
    const retry = makeGrpcRetryInterceptor({
      delayFunction: this.defaults.delayFunction,
      retryableDecider: (attempt, status) => !this.stopped && this.defaults.retryableDecider(attempt, status),
    });
    // Inside the retry interceptor: every attempt, the retries' included, passes here on its way to the channel.
    const untilStopped: Interceptor = (options, nextCall) => (this.stopped ? new InterceptingCall(closedCall()) : new InterceptingCall(nextCall(options)));
    return { ...options, interceptors: [retry, untilStopped] };
  }

  stop(): void {
    this.stopped = true;
  }

  /** The plugin a connection was made with, if any. */
  static of(connection: Connection): StoppableRetries | undefined {
    return connection.plugins.find((plugin): plugin is StoppableRetries => plugin instanceof StoppableRetries);
  }
}

/** Stops the connection's retries, then closes it (see StoppableRetries). */
export async function closeTemporalConnection(connection: Connection): Promise<void> {
  StoppableRetries.of(connection)?.stop();
  await connection.close();
}

/** A call that never reaches a channel: it ends at once with CANCELLED, as a call cancelled by its owner does. */
function closedCall(): ConstructorParameters<typeof InterceptingCall>[0] {
  return {
    start(_metadata: Metadata, listener?: Partial<InterceptingListener>) {
      setImmediate(() => listener?.onReceiveStatus?.({ code: GrpcStatus.CANCELLED, details: 'the Temporal connection is closing', metadata: new Metadata() }));
    },
    cancelWithStatus: () => undefined,
    getPeer: () => 'closed',
    sendMessageWithContext: () => undefined,
    sendMessage: () => undefined,
    startRead: () => undefined,
    halfClose: () => undefined,
    getAuthContext: () => null,
  };
}

/**
 * What the Temporal dev server this project runs (`npm start`, every test system and bench) is started with. Its
 * history service reads the transfer queue, which hands each new workflow task and activity task to matching, at
 * most 20 times a second by default (`history.transferProcessorMaxPollRPS`): a workflow step that follows the one
 * before within 50 ms waits for the next read. Measured on this project's machine: a workflow of two no-op
 * activities took 250 ms at p50 (50 ms steps), 42 ms with this. A production cluster is its operator's to tune
 * (docs/running.md); nothing here depends on the value but latency.
 */
export const DEV_SERVER_ARGS: readonly string[] = ['--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000'];
