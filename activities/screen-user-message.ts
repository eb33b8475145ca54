import { detect } from '../cage/injection-detector';
import { userMessageId } from '../common/ids';
import { audit } from '../audit/log';
import { UserMessageKind } from './record-user-message';
import type { ActivityDeps } from './deps';
import type { GuardResult } from './guards';

const LABELS: Record<string, string> = {
  instruction_override: 'an attempt to override the copilot’s instructions',
  role_impersonation: 'an attempt to change the copilot’s role',
  chat_template: 'chat-template control tokens',
  system_tag: 'system or instruction tags',
  prompt_leak: 'a request for the copilot’s hidden instructions',
  invisible_characters: 'invisible characters',
  bidi_override: 'text-direction control characters',
  homoglyphs: 'look-alike letters',
  encoded_payload: 'an encoded hidden instruction',
  embedded_instruction: 'planted instructions',
};

/**
 * Screens what a user typed before anything reaches the model: a confident injection is refused with the reason
 * and an audit event. The detector runs here, in an activity, so its verdict is recorded in history and replays
 * the same after its rules change.
 */
export function makeScreenUserMessage(deps: ActivityDeps) {
  return async function screenUserMessage(input: { orgId: string; userId: string; sessionId: string; turnId: string; text: string }): Promise<GuardResult> {
    const d = detect(input.text, 'direct');
    if (d.verdict === 'clean') return { ok: true };
    deps.metrics.detectorFlags.inc({ where: 'user_message' });
    const strongest = [...d.findings].sort((a, b) => b.weight - a.weight)[0]!;
    const quote = strongest.spans[0]?.text;
    // Turns of older histories stored the message before screening it: mark it refused, so that no later model
    // request includes it (newer turns store it only after the screen, already marked).
    await deps.prisma.message.updateMany({
      where: { id: userMessageId(input.sessionId, input.turnId), sessionId: input.sessionId, kind: UserMessageKind.Text },
      data: { kind: UserMessageKind.Refused },
    });
    const reason = `this message looks like a prompt injection (${LABELS[strongest.category] ?? strongest.category}${quote && strongest.spans[0]!.end > 0 ? `: "${quote.slice(0, 80)}"` : ''}); it was not sent to the model`;
    await audit(deps.prisma, {
      orgId: input.orgId,
      actorType: 'user',
      actorId: input.userId,
      action: 'injection.refused_message',
      target: input.sessionId,
      sessionId: input.sessionId,
      data: { turnId: input.turnId, score: d.score, categories: d.findings.map((f) => f.category), detector: d.version },
    }).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'audit event could not be written'));
    return { ok: false, reason };
  };
}
