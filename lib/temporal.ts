/**
 * Temporal client for the api and the CLI tools. Lazy, so the api starts (and reports it) while Temporal is down.
 * Every payload it sends is encrypted by `codec` and every payload it reads decrypted (lib/payload-codec.ts).
 */
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Env } from './env';
import { dataConverterOf } from './payload-codec';

export function createTemporalClient(env: Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>, codec: PayloadCodec): Client {
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: env.TEMPORAL_NAMESPACE, dataConverter: dataConverterOf(codec), interceptors: clientInterceptors });
}

/** Starting, updating and signalling a workflow carries the active trace context in Temporal's headers. */
export const clientInterceptors = { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
