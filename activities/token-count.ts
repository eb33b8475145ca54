import type Anthropic from '@anthropic-ai/sdk';
import type { ActivityDeps } from './deps';

/**
 * The prompt's token count from the Messages API's count_tokens endpoint. If counting fails, a deliberately high
 * estimate (one token per 2 characters of the request) keeps the reservation on the safe side.
 */
export async function countTokens(deps: ActivityDeps, request: Anthropic.MessageCreateParamsNonStreaming): Promise<number> {
  try {
    const { model, system, tools, messages } = request;
    const counted = await deps.anthropic.messages.countTokens({ model, system, tools, messages });
    return counted.input_tokens;
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'token count unavailable; reserving on an estimate');
    return Math.ceil(JSON.stringify(request).length / 2);
  }
}
