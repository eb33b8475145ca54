import { costOf, formatUsd, MOST_EXPENSIVE, priceOf, worstCaseCost } from './pricing';

it('prices known models by their longest matching prefix', () => {
  expect(priceOf('claude-sonnet-5-5')).toMatchObject({ known: true, price: { input: 3_000_000, output: 15_000_000 } });
  expect(priceOf('claude-opus-4-1-20250805')).toMatchObject({ known: true, price: { output: 75_000_000 } });
  expect(priceOf('claude-haiku-4-5')).toMatchObject({ known: true, price: { input: 1_000_000 } });
});

it('charges an unknown model at the most expensive price', () => {
  expect(priceOf('claud-sonet-typo')).toEqual({ known: false, price: MOST_EXPENSIVE });
  expect(MOST_EXPENSIVE.output).toBe(75_000_000);
});

it('computes the cost of a call from its usage, cache tokens included', () => {
  // 1,000 in × $3/M + 500 out × $15/M + 2,000 cache write × $3.75/M + 10,000 cache read × $0.30/M
  expect(costOf('claude-sonnet-5-5', { input_tokens: 1000, output_tokens: 500, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10_000 })).toBe(3000 + 7500 + 7500 + 3000);
  expect(formatUsd(21_000)).toBe('$0.02');
});

it('reserves the worst case: every prompt token at the dearest input price and all of max_tokens', () => {
  expect(worstCaseCost('claude-sonnet-5-5', 1000, 2048)).toBe(3750 + 30_720);
  expect(worstCaseCost('claude-sonnet-5-5', 1000, 2048)).toBeGreaterThanOrEqual(costOf('claude-sonnet-5-5', { input_tokens: 1000, output_tokens: 2048 }));
});
