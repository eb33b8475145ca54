import type { Prisma } from '@prisma/client';
import { userMessageId, Uuid } from '../common/ids';
import { Channel } from '../lib/pg-events';
import { sessionEventPayload } from '../lib/session-events';
import type { ActivityDeps } from './deps';
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { assertCallersSession, auditSessionRefusal, callingWorkflow } from './session-identity';

export interface RecordUserMessageInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  userId: string;
  text: string;
  /** A guard (the injection screen, a rate limit) refused it: kept for the transcript and the audit, never sent. */
  refused?: boolean;
}

/** What a user message is stored as; no model request ever includes a refused one (activities/call-model.ts). */
export const UserMessageKind = { Text: 'user_text', Refused: 'user_refused' } as const;

/**
 * Stores the technician's message as the turn's first transcript entry (once, whatever the retries), and tells the
 * console the turn started. One statement: the session read back (it must be in the claimed org and known under the
 * calling workflow's id, as `assertSession` checks), the row written and the event announced only where it is.
 */
export function makeRecordUserMessage({ prisma, pool }: ActivityDeps) {
  // Answers what it recorded: a local activity's marker keeps only its result, which the audit timeline reads.
  return async function recordUserMessage(input: RecordUserMessageInput): Promise<Omit<RecordUserMessageInput, 'sessionId' | 'orgId'> | undefined> {
    const content: Prisma.InputJsonValue = [{ type: 'text', text: input.text }];
    const uuidOrNull = (id: string) => (Uuid.safeParse(id).success ? id : null);
    const { rows } = await pool.query<{ session: { orgId: string; workflowId: string } | null; authored: boolean }>({
      name: 'record-user-message.write',
      text: `WITH s AS (SELECT "orgId", "workflowId" FROM "CopilotSession" WHERE "id" = $1::uuid),
                  a AS (SELECT EXISTS (SELECT 1 FROM "WorkflowRequest" r WHERE r."sessionId" = $1::uuid AND r."kind" = 'message' AND r."usedFor" = $5
                                         AND r."userId" = $8::uuid AND coalesce(r."text", '') = $11) AS "authored"),
                  ok AS (SELECT 1 FROM s, a WHERE s."orgId" = $2::uuid AND s."workflowId" = $3 AND a."authored"),
                  m AS (INSERT INTO "Message" ("id", "sessionId", "orgId", "turnId", "role", "kind", "content", "userId", "createdAt")
                        SELECT $4, $1::uuid, $2::uuid, $5, 'user', $6, $7::jsonb, $8::uuid, now() AT TIME ZONE 'UTC' FROM ok
                        ON CONFLICT ("id") DO NOTHING RETURNING 1),
                  n AS (SELECT pg_notify($9, $10) FROM ok)
             SELECT (SELECT json_build_object('orgId', s."orgId", 'workflowId', s."workflowId") FROM s) AS "session", (SELECT "authored" FROM a) AS "authored",
                    (SELECT count(*) FROM n) AS "told", (SELECT count(*) FROM m) AS "written"`,
      values: [
        uuidOrNull(input.sessionId),
        uuidOrNull(input.orgId),
        callingWorkflow() ?? '',
        userMessageId(input.sessionId, input.turnId),
        input.turnId,
        input.refused ? UserMessageKind.Refused : UserMessageKind.Text,
        JSON.stringify(content),
        // The turn's author: the requester of its calls, and barred from approving a T4 call of this session (never
        // stored as nobody: an id that is no uuid fails the statement).
        input.userId,
        Channel.SessionEvents,
        sessionEventPayload({ sessionId: input.sessionId, turnId: input.turnId, type: 'turn:started', text: input.text }),
        input.text,
      ],
    });
    // Nothing was written where this refuses: the statement wrote only for the caller's own session.
    await assertCallersSession(prisma, input, rows[0]?.session ?? null, 'recordUserMessage');
    // Activity arguments are anyone's who reaches Temporal (a worker of theirs on the task queue, under this session's
    // own workflow id): the author and text must be those of the message request claimed for this turn
    // (activities/workflow-requests.ts verifyMessageRequest), or a turn could be written in anyone's name.
    if (!rows[0]?.authored) {
      const refusal = { rule: 'turn_author' as const, reason: 'no message request of this author and text was claimed for this turn; nothing was recorded' };
      await auditSessionRefusal(prisma, input, refusal, { activity: 'recordUserMessage', action: 'security.session_identity_refused', data: { turnId: input.turnId.slice(0, 100), claimedUserId: input.userId.slice(0, 100) } }).catch(() => undefined);
      throw ApplicationFailure.nonRetryable(`recordUserMessage refused: ${refusal.reason}`, FailureType.Unauthorized);
    }
    return { turnId: input.turnId, userId: input.userId, text: input.text, ...(input.refused ? { refused: true } : {}) };
  };
}
