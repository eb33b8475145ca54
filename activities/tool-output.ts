/**
 * What the model sees of a tool's output: rendered as JSON, scanned for injected instructions (as indirect
 * input), and fenced as untrusted data with a fresh nonce. Flagged content still reaches the model, fenced and
 * marked, and the caller taints the session so the next tool call needs a human.
 */
import crypto from 'node:crypto';
import { detect } from '../cage/injection-detector';
import { fence } from '../cage/output-fence';

export interface RenderedOutput {
  text: string;
  flagged: boolean;
  categories: string[];
}

export function renderForModel(output: unknown, source: string): RenderedOutput {
  const raw = typeof output === 'string' ? output : JSON.stringify(output, null, 1);
  const detection = detect(raw, 'indirect');
  const flagged = detection.verdict === 'injection';
  const text = fence(raw, { nonce: crypto.randomBytes(9).toString('base64url'), source, flagged });
  return { text, flagged, categories: detection.findings.map((f) => f.category) };
}
