/**
 * What an approver is shown of a call. The hazard: a view cut at its end hides whatever follows (an execute_script
 * whose first 500 characters are benign comments and whose payload comes after). So a call is shown whole when it
 * fits; otherwise as its head, its tail and the SHA-256 of the whole text, and a channel that cannot show it whole
 * must not offer Approve at all, only a link to the full view.
 */
import crypto from 'node:crypto';

/** The exact call as every channel shows it: the tool and its parsed input, pretty-printed JSON. */
export function callText(tool: string, input: unknown): string {
  return JSON.stringify({ tool, input }, null, 2);
}

/** A call too long to show whole: its first and last characters, its length and the SHA-256 of the whole text. */
export interface CallHeadAndTail {
  head: string;
  tail: string;
  sha256: string;
  length: number;
}

export function headAndTail(text: string, part: number): CallHeadAndTail {
  const n = Math.max(1, part);
  return { head: text.slice(0, n), tail: text.slice(-n), sha256: crypto.createHash('sha256').update(text, 'utf8').digest('hex'), length: text.length };
}

/**
 * A one-line text kept under `max` characters by eliding its middle, never its end, and saying how much is left
 * out: a payload at the end of a long argument stays visible.
 */
export function elideMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = ` …[${text.length} characters; middle not shown]… `;
  const keep = Math.max(2, max - marker.length);
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}${marker}${text.slice(text.length - (keep - head))}`;
}
