import type Anthropic from '@anthropic-ai/sdk';
import type { PrismaClient } from '@prisma/client';
import type { Logger } from '../lib/logger';

/** Everything the activities need, passed in once by the worker (and by tests). */
export interface ActivityDeps {
  prisma: PrismaClient;
  anthropic: Anthropic;
  logger: Logger;
  model: { name: string; maxTokens: number; offline: boolean };
  commands: { ttlSeconds: number; timeoutSeconds: number };
}
