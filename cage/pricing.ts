/**
 * Model prices, in micro-dollars per million tokens, and what a call costs. An unknown model is charged at the
 * most expensive price, so a typo in a model name can never make calls cheaper than they are. Runs in
 * activities (prices change; history records what was charged).
 */
export interface Price {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

const usd = (dollarsPerMTok: number) => Math.round(dollarsPerMTok * 1_000_000);
const price = (input: number, output: number): Price => ({ input: usd(input), output: usd(output), cacheWrite: usd(input * 1.25), cacheRead: usd(input * 0.1) });

/** Longest matching prefix wins. USD per million tokens, as published by Anthropic. */
export const PRICES: Record<string, Price> = {
  'claude-opus-4-0': price(15, 75),
  'claude-opus-4-1': price(15, 75),
  'claude-opus-4-2': price(15, 75),
  'claude-opus-4-5': price(5, 25),
  'claude-opus-4-6': price(5, 25),
  'claude-opus-4-7': price(5, 25),
  'claude-opus-4-8': price(5, 25),
  'claude-opus-5': price(5, 25),
  'claude-sonnet': price(3, 15),
  'claude-haiku-4': price(1, 5),
  'claude-haiku-5': price(1, 5),
  'claude-3-5-haiku': price(0.8, 4),
  'claude-3-haiku': price(0.25, 1.25),
};

export const MOST_EXPENSIVE: Price = Object.values(PRICES).reduce((a, b) => (b.output > a.output ? b : a));

export function priceOf(model: string): { price: Price; known: boolean } {
  const match = Object.keys(PRICES)
    .filter((prefix) => model.startsWith(prefix))
    .sort((a, b) => b.length - a.length)[0];
  return match ? { price: PRICES[match]!, known: true } : { price: MOST_EXPENSIVE, known: false };
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

const cost = (tokens: number, perMTok: number) => Math.ceil((tokens * perMTok) / 1_000_000);

/** What a finished call cost, in micro-dollars (rounded up). */
export function costOf(model: string, usage: Usage): number {
  const { price: p } = priceOf(model);
  return (
    cost(usage.input_tokens, p.input) +
    cost(usage.output_tokens, p.output) +
    cost(usage.cache_creation_input_tokens ?? 0, p.cacheWrite) +
    cost(usage.cache_read_input_tokens ?? 0, p.cacheRead)
  );
}

/** The most a call can cost: every prompt token at the cache-write price (the dearest input) and max_tokens out. */
export function worstCaseCost(model: string, promptTokens: number, maxTokens: number): number {
  const { inputPerMTok, outputMicros } = worstCaseRates(model, maxTokens);
  return cost(promptTokens, inputPerMTok) + outputMicros;
}

/**
 * worstCaseCost in two parts, for a reservation sized in SQL (lib/budget.ts reserveModelCall): the price of a prompt
 * token (micro-dollars per million, the cost rounded up) and the cost of max_tokens out.
 */
export function worstCaseRates(model: string, maxTokens: number): { inputPerMTok: number; outputMicros: number } {
  const { price: p } = priceOf(model);
  return { inputPerMTok: Math.max(p.input, p.cacheWrite), outputMicros: cost(maxTokens, p.output) };
}

export const formatUsd = (micros: number | bigint) => `$${(Number(micros) / 1_000_000).toFixed(2)}`;
