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

/**
 * Where and why `value` is not plain JSON that PostgreSQL can store, or null when it is: strings and keys must be
 * storable text, binary attachments and class instances are not JSON, and nesting deeper than `maxDepth` is refused
 * before anything recursive (JSON.stringify, jsonb) sees it. Iterative, so no depth can overflow the stack here.
 */
export interface Unstorable {
  path: (string | number)[];
  /** 'text': a string or key PostgreSQL refuses; 'shape': not JSON, or nested too deep. */
  kind: 'text' | 'shape';
  reason: string;
}

export function findUnstorable(value: unknown, maxDepth: number): Unstorable | null {
  const pending: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value: v, path } = next;
    if (v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) continue;
    if (typeof v === 'string') {
      if (!isStorableText(v)) return { path, kind: 'text', reason: 'a string holds a NUL character or an unpaired surrogate' };
      continue;
    }
    if (typeof v !== 'object') return { path, kind: 'shape', reason: `${typeof v === 'number' ? 'a non-finite number' : `a ${typeof v}`} is not JSON` };
    if (path.length >= maxDepth) return { path, kind: 'shape', reason: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      v.forEach((item, i) => pending.push({ value: item, path: [...path, i] }));
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return { path, kind: 'shape', reason: 'binary data or another non-JSON object' };
    for (const [key, item] of Object.entries(v)) {
      if (!isStorableText(key)) return { path, kind: 'text', reason: 'a key holds a NUL character or an unpaired surrogate' };
      pending.push({ value: item, path: [...path, key] });
    }
  }
  return null;
}
