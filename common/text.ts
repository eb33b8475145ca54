/**
 * Text PostgreSQL can store. It refuses a NUL character in text and jsonb, and an unpaired UTF-16 surrogate in
 * jsonb: the whole write fails, and an activity making it retries without end. Strings that cross a process
 * boundary and may be stored are checked here, before they reach a workflow or the database.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}
