/**
 * Pages of a command's full output, as its agent uploaded it (`CommandOutputChunk`, one row per chunk). Each page is
 * a bounded slice that fits the output fence whole (cage/output-fence.ts caps what the model sees at
 * FENCE_CAP_CHARS), cut on UTF-8 character boundaries, with the offset of the next page. What the server holds is
 * checked against what the device declared in its result (bytes and SHA-256), and a page says plainly when the copy
 * is incomplete or the endpoint's limit cut the stream.
 */
import { Prisma, type PrismaClient } from '@prisma/client';
import { MAX_FULL_OUTPUT_BYTES, type FullOutputStream, type OutputStream } from '../../common/protocol';

/** Bytes per page at most. */
export const OUTPUT_PAGE_BYTES = 16 * 1024;
/** The page's text as JSON stays under this, so the rendered page (with its fields) fits the fence uncut. */
const PAGE_JSON_CHARS = 20_000;

export interface OutputPage {
  stream: OutputStream;
  offset: number;
  /** Where the next page starts; null at the end of what is stored. */
  nextOffset: number | null;
  /** Bytes the server holds for this stream (from the start, without gaps). */
  storedBytes: number;
  /** Bytes the device said it spooled, and wrote in all (null: it described none). */
  declaredBytes: number | null;
  producedBytes: number | null;
  /** Every byte the device spooled is here and matches its SHA-256. */
  complete: boolean;
  /** The device's limit cut the stream: what it wrote past MAX_FULL_OUTPUT_BYTES was never stored. */
  cutByEndpointLimit: boolean;
  notes: string[];
  text: string;
}

interface Stored {
  /** Chunks from seq 0 without a gap: seq and where each starts. */
  chunks: { seq: number; start: number; length: number }[];
  bytes: number;
}

async function storedChunks(prisma: PrismaClient, where: { commandId: string; orgId: string; stream: OutputStream }): Promise<Stored> {
  const rows = await prisma.$queryRaw<{ seq: number; length: number }[]>(Prisma.sql`
    SELECT "seq", octet_length("data") AS "length" FROM "CommandOutputChunk"
    WHERE "commandId" = ${where.commandId} AND "orgId" = ${where.orgId}::uuid AND "stream" = ${where.stream}
    ORDER BY "seq"`);
  const chunks: Stored['chunks'] = [];
  let bytes = 0;
  for (const row of rows) {
    if (Number(row.seq) !== chunks.length) break; // a gap: what follows cannot be placed
    chunks.push({ seq: chunks.length, start: bytes, length: Number(row.length) });
    bytes += Number(row.length);
  }
  return { chunks, bytes };
}

async function storedDigest(prisma: PrismaClient, where: { commandId: string; orgId: string; stream: OutputStream }, chunks: number): Promise<string | null> {
  const [row] = await prisma.$queryRaw<{ digest: string | null }[]>(Prisma.sql`
    SELECT encode(sha256(string_agg("data", ''::bytea ORDER BY "seq")), 'hex') AS "digest" FROM "CommandOutputChunk"
    WHERE "commandId" = ${where.commandId} AND "orgId" = ${where.orgId}::uuid AND "stream" = ${where.stream} AND "seq" < ${chunks}`);
  return row?.digest ?? null;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const isContinuation = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

/** `pos`, or the start of the next UTF-8 character when `pos` falls inside one (at most 3 bytes on). */
function nextCharStart(buf: Uint8Array, pos: number, limit: number): number {
  let p = pos;
  while (p < limit && p - pos < 3 && isContinuation(buf[p])) p++;
  return p;
}

/** `end`, or the start of the character that `end` would split (left for the next page). */
function wholeCharsEnd(buf: Uint8Array, end: number, floor: number): number {
  for (let p = end - 1; p >= Math.max(floor, end - 4); p--) {
    const b = buf[p]!;
    if (isContinuation(b)) continue;
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return p + length > end ? p : end;
  }
  return end;
}

export async function readOutputPage(
  prisma: PrismaClient,
  q: { commandId: string; orgId: string; stream: OutputStream; offset: number; declared: FullOutputStream | null; finished: boolean },
): Promise<OutputPage> {
  const where = { commandId: q.commandId, orgId: q.orgId, stream: q.stream };
  const stored = await storedChunks(prisma, where);
  const notes: string[] = [];
  const declared = q.declared;
  let complete = false;
  if (!declared) {
    notes.push(
      !q.finished
        ? `the command has not finished yet; ${stored.bytes} bytes of its full output have arrived so far`
        : stored.bytes
          ? `the device did not describe its full output; ${stored.bytes} bytes are stored`
          : 'no full output is stored for this command: its stored result is all there is',
    );
  } else if (stored.bytes < declared.bytes) {
    notes.push(`INCOMPLETE: the server holds ${stored.bytes} of the ${declared.bytes} bytes the device spooled; the rest never arrived`);
  } else if ((stored.chunks.length ? await storedDigest(prisma, where, stored.chunks.length) : EMPTY_SHA256) !== declared.sha256) {
    notes.push('the stored bytes do not match the SHA-256 the device declared for them');
  } else {
    complete = true;
  }
  if (declared?.cut) {
    notes.push(`CUT: the device stores at most ${MAX_FULL_OUTPUT_BYTES} bytes per stream; the command wrote ${declared.totalBytes}, the last ${declared.totalBytes - declared.bytes} were never stored`);
  }

  const page = await slice(prisma, where, stored, q.offset);
  if (q.offset >= stored.bytes && stored.bytes > 0) notes.push(`offset ${q.offset} is at or past the end of the ${stored.bytes} stored bytes`);
  return {
    stream: q.stream,
    offset: page.start,
    nextOffset: page.end < stored.bytes ? page.end : null,
    storedBytes: stored.bytes,
    declaredBytes: declared?.bytes ?? null,
    producedBytes: declared?.totalBytes ?? null,
    complete,
    cutByEndpointLimit: declared?.cut ?? false,
    notes,
    text: page.text,
  };
}

/** The stored bytes from `offset`, at most a page, as text. */
async function slice(prisma: PrismaClient, where: { commandId: string; orgId: string; stream: OutputStream }, stored: Stored, offset: number): Promise<{ start: number; end: number; text: string }> {
  const from = Math.min(offset, stored.bytes);
  const to = Math.min(from + OUTPUT_PAGE_BYTES, stored.bytes);
  if (to <= from) return { start: from, end: from, text: '' };
  const needed = stored.chunks.filter((c) => c.start < to && c.start + c.length > from);
  const rows = await prisma.commandOutputChunk.findMany({ where: { ...where, seq: { in: needed.map((c) => c.seq) } }, select: { seq: true, data: true }, orderBy: { seq: 'asc' } });
  const joined = Buffer.concat(rows.map((r) => Buffer.from(r.data)));
  const base = needed[0]!.start;
  const decoder = new TextDecoder('utf-8');
  // Offsets in `joined` are relative to `base`; page edges never split a character (binary output aside).
  const start = from > 0 ? base + nextCharStart(joined, from - base, to - base) : from;
  const endAt = (limit: number) => {
    const end = limit === stored.bytes ? limit : base + wholeCharsEnd(joined, limit - base, start - base);
    return end > start ? end : limit;
  };
  let end = endAt(to);
  let text = decoder.decode(joined.subarray(start - base, end - base));
  // Escaping can make text longer as JSON (control characters, quotes): shrink until the page fits the fence whole.
  for (let json = JSON.stringify(text).length; json > PAGE_JSON_CHARS && end - start > 1; json = JSON.stringify(text).length) {
    end = endAt(start + Math.max(1, Math.floor(((end - start) * PAGE_JSON_CHARS) / json) - 8));
    text = decoder.decode(joined.subarray(start - base, end - base));
  }
  return { start, end, text };
}
