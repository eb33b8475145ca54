import type Anthropic from '@anthropic-ai/sdk';

/**
 * An upper bound of the prompt's token count, for the worst-case reservation: every token of Claude's tokenizer
 * is at least one byte, so the UTF-8 size of the request bounds it from above. No network round trip (a
 * count_tokens call would add one per model call), and the settlement uses the real usage anyway.
 */
export function promptTokenBound(request: Anthropic.MessageCreateParamsNonStreaming): number {
  const { system, tools, messages } = request;
  return Buffer.byteLength(JSON.stringify({ system, tools, messages }), 'utf8');
}
