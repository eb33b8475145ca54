import { EMBEDDED_INSTRUCTIONS, MORE_EMBEDDED_INSTRUCTIONS, UNSEEN_EMBEDDED_INSTRUCTIONS } from '../cage/testdata/embedded-instructions';
import { syntheticDescriptive, syntheticInstructions } from './injection-synthetic';

describe('the training grammar', () => {
  it('gives the same sentences for the same seed, and none both as instruction and as description', () => {
    expect(syntheticInstructions(200, 7)).toEqual(syntheticInstructions(200, 7));
    expect(syntheticInstructions(200, 7)).not.toEqual(syntheticInstructions(200, 8));
    const descriptive = new Set(syntheticDescriptive(500, 7));
    expect(syntheticInstructions(500, 7).filter((s) => descriptive.has(s))).toEqual([]);
  });

  it('shares no sentence with the hand-written test examples', () => {
    // As many of each as the training script reads (scripts/train-injection-model.ts).
    const grammar = new Set([...syntheticInstructions(1500, 20_261_205), ...syntheticDescriptive(3200, 20_261_205)]);
    expect([...EMBEDDED_INSTRUCTIONS, ...MORE_EMBEDDED_INSTRUCTIONS, ...UNSEEN_EMBEDDED_INSTRUCTIONS].filter((s) => grammar.has(s))).toEqual([]);
  });
});
