import type { Client } from '@temporalio/client';
import type { Logger } from '../lib/logger';
import type { PrismaClient } from '../lib/prisma';
import type { Redis } from '../lib/redis';

/** What the api needs, passed in by api/main.ts (and by tests, with real services on port 0). */
export interface ApiDeps {
  prisma: PrismaClient;
  temporal: Client;
  redis: Redis;
  logger: Logger;
  config: {
    databaseUrl: string;
    taskQueue: string;
    temporalNamespace: string;
    temporalUiUrl: string;
    /** How often the gateway expires overdue commands and retries activity completions. */
    sweepIntervalMs: number;
    /** How long an agent may run one command before it kills it. */
    commandTimeoutSeconds: number;
    /** Largest JSON body accepted, in bytes. */
    bodyLimitBytes: number;
  };
}
