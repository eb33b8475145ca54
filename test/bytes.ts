import crypto from 'node:crypto';

/**
 * Large byte strings are compared by length and SHA-256. jest's `toEqual` walks a Buffer one element at a time: on
 * 1 MiB it blocks the event loop for seconds, and the api runs in the test's own process, so its timers (and the
 * HTTP client's) stall with it.
 */
export const bytesOf = (data: Buffer | string) => ({ bytes: Buffer.byteLength(data), sha256: crypto.createHash('sha256').update(data).digest('hex') });
