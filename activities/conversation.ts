/**
 * Turns stored transcript rows into the `messages` of a Messages API request. The API insists that roles
 * alternate and that every tool_use is answered by a tool_result in the next user message; a turn that failed
 * half-way leaves an unanswered tool_use behind, so this repairs it with an explicit "not run" result instead of
 * sending a request the API would refuse.
 */
import type Anthropic from '@anthropic-ai/sdk';

type Block = Anthropic.ContentBlockParam;

/** The result given to a tool_use the transcript left unanswered (a turn that failed half-way). */
export const NOT_RUN = 'not run: the turn ended before this tool ran';
export interface StoredMessage {
  role: string;
  content: unknown;
}

export function buildConversation(rows: StoredMessage[]): Anthropic.MessageParam[] {
  const messages: Anthropic.MessageParam[] = [];
  for (const row of rows) {
    const role = row.role === 'assistant' ? 'assistant' : 'user';
    const blocks = (Array.isArray(row.content) ? row.content : []) as Block[];
    const last = messages[messages.length - 1];
    if (last && last.role === role) {
      last.content = [...(last.content as Block[]), ...blocks];
    } else {
      messages.push({ role, content: [...blocks] });
    }
  }
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i]!;
    if (msg.role !== 'assistant') continue;
    const asked = (msg.content as Block[]).filter((b): b is Anthropic.ToolUseBlockParam => b.type === 'tool_use');
    if (asked.length === 0) continue;
    let next = messages[i + 1];
    if (!next || next.role !== 'user') {
      next = { role: 'user', content: [] };
      messages.splice(i + 1, 0, next);
    }
    const answered = new Set(
      (next.content as Block[]).filter((b) => b.type === 'tool_result').map((b) => (b as Anthropic.ToolResultBlockParam).tool_use_id),
    );
    const missing: Block[] = asked
      .filter((t) => !answered.has(t.id))
      .map((t) => ({ type: 'tool_result', tool_use_id: t.id, content: NOT_RUN, is_error: true }));
    // tool_result blocks must come first in the user message.
    next.content = [...missing, ...(next.content as Block[])];
  }
  return messages;
}
