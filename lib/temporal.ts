/** Temporal client for the api and the CLI tools. Lazy, so the api starts (and reports it) while Temporal is down. */
import { Client, Connection } from '@temporalio/client';
import type { Env } from './env';

export function createTemporalClient(env: Pick<Env, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): Client {
  const connection = Connection.lazy({ address: env.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
}
