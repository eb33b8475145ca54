/**
 * A Socket.IO event catalog: each event's name, which way it travels, the zod schema of its payload and, when the
 * sender waits for an answer, of the acknowledgement. The typed event maps Socket.IO wants on each side are derived
 * from it, so a name or a payload changed in the catalog changes what both ends compile against (as in
 * trigger.dev's message catalogs and socket.io's `common/events.ts`).
 */
import type { z } from 'zod';

export const Direction = { ToServer: 'to-server', ToClient: 'to-client' } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export interface EventSpec {
  direction: Direction;
  payload: z.ZodType;
  ack?: z.ZodType;
}
export type EventCatalog = Record<string, EventSpec>;

type Listener<S extends EventSpec> = S extends { ack: infer A extends z.ZodType }
  ? (msg: z.infer<S['payload']>, ack: (res: z.infer<A>) => void) => void
  : (msg: z.infer<S['payload']>) => void;

/** The Socket.IO event map of the events the catalog sends in `direction`. */
export type EventsOf<C extends EventCatalog, D extends Direction> = {
  [K in keyof C as C[K]['direction'] extends D ? K : never]: Listener<C[K]>;
};

/** The names of the events the catalog sends in `direction` (what a receiver accepts). */
export function eventNames<C extends EventCatalog>(catalog: C, direction: Direction): ReadonlySet<string> {
  return new Set(Object.entries(catalog).flatMap(([name, spec]) => (spec.direction === direction ? [name] : [])));
}
