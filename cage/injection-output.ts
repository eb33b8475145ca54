/**
 * The injection scan of a tool's output, over the text the model reads. Pure, and linear in the size of the output.
 *
 * The model reads the output as JSON, but it understands `\n` inside a string as the line break it is. Scanning
 * the JSON text would not: the escape glues the next line's first word to an `n`, so every instruction that starts
 * a line, and every rule anchored at a line start, would be missed; and planted instructions almost always sit on
 * a line of their own (a log entry, a command line, a file).
 */
import { detect } from './injection-detector';

/**
 * Every string of an output (keys too), with its real line breaks, and all of them joined in reading order: the
 * entries of a list one per line (a phrase split over two entries reads as one wrapped sentence), the fields of
 * an object, and a key and its value, a blank line apart (separate records: the rules do not read across a blank
 * line). Numbers, booleans and null carry no words. Iterative, so a deeply nested output cannot overflow the stack.
 */
export function readableText(output: unknown): { strings: string[]; joined: string } {
  const strings: string[] = [];
  const parts: string[] = [];
  const stack: { value: unknown; separator: string }[] = [{ value: output, separator: '' }];
  while (stack.length > 0) {
    const { value, separator } = stack.pop()!;
    if (typeof value === 'string') {
      if (value.length === 0) continue;
      strings.push(value);
      parts.push(parts.length === 0 ? '' : separator, value);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], separator: i === 0 ? separator : '\n' });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        stack.push({ value: child, separator: '\n\n' });
        stack.push({ value: key, separator: i === 0 ? separator : '\n\n' });
      }
    }
  }
  return { strings, joined: parts.join('') };
}

// Tried only where a run starts (as in the detector's prefilter): from every character, a run would cost 24 steps.
const MAY_BE_ENCODED = /%[0-9a-f]{2}|(?:^|[^\w+/-])[\w+/-]{24}/i;

export interface OutputScan {
  flagged: boolean;
  /** Categories of every finding, flagged or not (for the audit event). */
  categories: string[];
}

/** Flagged when the strings of the output, read in order, carry instructions (see readableText). */
export function scanToolOutput(output: unknown): OutputScan {
  const { strings, joined } = readableText(output);
  const detections = [detect(joined, 'indirect')];
  // A string that may hold an encoded payload is scanned alone as well: the decoded-payload scan is bounded per
  // text (32 runs), and one malformed escape anywhere stops URL-decoding the whole text. Everything else a string
  // could show alone, the joined text shows too: the same words, with the string starting a line.
  if (strings.length > 1) for (const s of strings) if (MAY_BE_ENCODED.test(s)) detections.push(detect(s, 'indirect'));
  return {
    flagged: detections.some((d) => d.verdict === 'injection'),
    categories: [...new Set(detections.flatMap((d) => d.findings.map((f) => f.category)))],
  };
}
