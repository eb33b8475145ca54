/**
 * Runs every payload of a workflow history through a payload codec. A history as Temporal (and an export) holds it
 * is encrypted; the timeline reads it decoded, `npm run record-fixtures` commits fixtures decoded (replayable without
 * a key), and bench/replay encrypts the fixtures to measure what an auditor's replay costs.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

/**
 * Whether the payloads at `path` (property names from the history down) went through our codec. Not: search
 * attributes (indexed by the server), headers (read by interceptors before any codec), and a marker's details, which
 * the SDK's core writes and reads itself (a patch id, a local activity's sequence data), but for a local activity's
 * `result`. Encoding leaves these alone; decoding passes anything not encrypted through anyway.
 */
export function encodedByCodec(path: readonly string[]): boolean {
  const [key, parent, grandparent] = [path.at(-1), path.at(-2), path.at(-3)];
  if (key === 'searchAttributes' || key === 'header') return false;
  return !(grandparent === 'markerRecordedEventAttributes' && parent === 'details' && key !== 'result');
}

/** A payload: every payload our converters write names its encoding in its metadata. */
const isPayload = (v: object): v is Payload => {
  const metadata = (v as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null && ArrayBuffer.isView((metadata as { encoding?: unknown }).encoding);
};

async function mapPayloads(node: unknown, fn: (p: Payload) => Promise<Payload>, path: string[] = []): Promise<unknown> {
  if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return node;
  if (isPayload(node)) return fn(node);
  if (Array.isArray(node)) return Promise.all(node.map((item) => mapPayloads(item, fn, path)));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const at = [...path, key];
    out[key] = encodedByCodec(at) ? await mapPayloads(value, fn, at) : value;
  }
  return out;
}

async function transform(history: History, fn: (payloads: Payload[]) => Promise<Payload[]>): Promise<History> {
  const plain = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), { defaults: false });
  const mapped = await mapPayloads(plain, async (p) => (await fn([p]))[0]!);
  return temporal.api.history.v1.History.fromObject(mapped as Record<string, unknown>);
}

/** A copy of `history` with every payload decoded (payloads that are not encrypted stay as they are). */
export function decodeHistory(history: History, codec: PayloadCodec): Promise<History> {
  return transform(history, (p) => codec.decode(p));
}

/** A copy of `history` with every payload our clients encode run through `codec.encode`. */
export function encodeHistory(history: History, codec: PayloadCodec): Promise<History> {
  return transform(history, (p) => codec.encode(p));
}
