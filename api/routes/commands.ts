/**
 * Device commands a person steers directly: cancel one that still waits for its (offline) device. The operation is
 * services/commands.ts's.
 */
import { z } from 'zod';
import { CommandCancelledAnswer } from '../../common/api-answers';
import { defineRoute, type AnyRoute } from '../http/route';
import { cancelCommand as cancel } from '../services/commands';

const Params = z.object({ id: z.string().regex(/^[0-9a-f-]{36}:[A-Za-z0-9_-]{1,128}:[0-9a-f-]{36}$/, 'a command id (<invocation id>:<device id>)') }).strict();

export const cancelCommand = defineRoute({
  method: 'post',
  path: '/v1/commands/:id/cancel',
  summary: 'Cancel a command of your session that still waits for its device (never sent); the session is told at once',
  tag: 'sessions',
  auth: 'user',
  params: Params,
  responses: { 200: 'Cancelled', 401: 'No valid API key', 403: 'Not the session’s technician or an org admin', 404: 'Unknown command', 409: 'Already sent, finished, or part of a remediation' },
  response: CommandCancelledAnswer,
  async handler(ctx) {
    return { status: 200, body: await cancel(ctx, ctx.params.id) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const commandRoutes: AnyRoute[] = [cancelCommand];
