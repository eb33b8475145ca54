import type { Prisma } from '@prisma/client';
import { userMessageId } from '../common/ids';
import { publishSessionEvent } from '../lib/session-events';
import type { ActivityDeps } from './deps';
import { assertSession } from './session-identity';

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

/** Stores the technician's message as the turn's first transcript entry (once, whatever the retries). */
export function makeRecordUserMessage({ prisma }: ActivityDeps) {
  // Answers what it recorded: a local activity's marker keeps only its result, which the audit timeline reads.
  return async function recordUserMessage(input: RecordUserMessageInput): Promise<Omit<RecordUserMessageInput, 'sessionId' | 'orgId'> | undefined> {
    await assertSession(prisma, input, 'recordUserMessage');
    const content: Prisma.InputJsonValue = [{ type: 'text', text: input.text }];
    await prisma.message.upsert({
      where: { id: userMessageId(input.sessionId, input.turnId) },
      create: {
        id: userMessageId(input.sessionId, input.turnId),
        sessionId: input.sessionId,
        orgId: input.orgId,
        turnId: input.turnId,
        role: 'user',
        kind: input.refused ? UserMessageKind.Refused : UserMessageKind.Text,
        content,
        // The turn's author: the requester of its calls, and barred from approving a T4 call of this session.
        userId: input.userId,
      },
      update: {},
    });
    await publishSessionEvent(prisma, { sessionId: input.sessionId, turnId: input.turnId, type: 'turn:started', text: input.text });
    return { turnId: input.turnId, userId: input.userId, text: input.text, ...(input.refused ? { refused: true } : {}) };
  };
}
