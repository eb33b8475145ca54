/**
 * What the injection model reads from a text, as the detector reads it: the features of every segment its scan scores
 * (cage/injection-model.ts `scoreText`, on the text as cage/normalize.ts gives it). The training script learns from
 * them; the model's test digests them over the training texts every clone has, so that weights trained on other
 * features (a change to normalize.ts or the scan, not followed by a retrain) are caught where the change is made.
 */
import crypto from 'node:crypto';
import { FEATURE_BITS, scoreText } from '../cage/injection-model';
import { normalize } from '../cage/normalize';
import { syntheticDescriptive, syntheticInstructions } from './injection-synthetic';

const NO_WEIGHTS = { weights: new Int8Array(1 << FEATURE_BITS), scale: 1, bias: 0, threshold: 0 };

/** The features of every segment the detector would score, read from the text as the detector reads it. */
export function featurize(text: string): Int32Array[] {
  const out: Int32Array[] = [];
  const push = (features: Int32Array) => out.push(features.slice());
  // A segment's head is scored as a segment of its own (see scoreText), so it is one to learn from too.
  scoreText(normalize(text).text, NO_WEIGHTS, push, push);
  return out;
}

/** How many sentences of scripts/injection-synthetic.ts the indirect channel learns from, of each kind. */
export const SYNTHETIC_INSTRUCTIONS = 1500;
export const SYNTHETIC_DESCRIPTIVE = 3200;

/**
 * The training texts every clone has, in training order: those packages ship (`packageTexts(root).texts`, read once by
 * the caller), then the synthetic sentences.
 */
export function cloneTrainingTexts(shipped: readonly { text: string }[], seed: number): string[] {
  return [...shipped.map((t) => t.text), ...syntheticInstructions(SYNTHETIC_INSTRUCTIONS, seed), ...syntheticDescriptive(SYNTHETIC_DESCRIPTIVE, seed)];
}

/** The sha256 of the features of these texts, segment by segment, text by text. */
export function featuresDigest(texts: Iterable<string>, featuresOf: (text: string) => Int32Array[] = featurize): { sha256: string; texts: number } {
  const hash = crypto.createHash('sha256');
  let n = 0;
  for (const text of texts) {
    for (const segment of featuresOf(text)) {
      hash.update(new Uint8Array(segment.buffer, segment.byteOffset, segment.byteLength));
      hash.update('|');
    }
    hash.update('\n');
    n++;
  }
  return { sha256: hash.digest('hex'), texts: n };
}
