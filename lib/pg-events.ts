/**
 * PostgreSQL LISTEN/NOTIFY as a small event bus between the worker and the api nodes: the worker announces
 * "a command is waiting for device X" and "session Y made progress"; every api node hears it and acts if the
 * agent or console is connected to it. The database stays the source of truth; a missed notification only
 * delays delivery until the agent reconnects or the api's sweep runs.
 */
import { Client } from 'pg';
import { z } from 'zod';
import type { Logger } from './logger';

export const Channel = {
  Commands: 'gatehouse_commands',
  SessionEvents: 'gatehouse_session_events',
  Terminals: 'gatehouse_terminals',
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** On `Channel.Commands`: these commands wait for these devices (at most COMMANDS_PER_NOTE, to stay in 8000 bytes). */
export const COMMANDS_PER_NOTE = 40;
export const CommandsNote = z
  .object({ commands: z.array(z.object({ commandId: z.string().min(1).max(300), deviceId: z.uuid() }).strict()).min(1).max(COMMANDS_PER_NOTE) })
  .strict();
export type CommandsNote = z.infer<typeof CommandsNote>;

/**
 * On `Channel.Terminals`: close the live terminals of one grant, or of a whole org (kill switch). Every api node
 * closes those it relays; each agent closes its PTYs at the window's end by itself too.
 */
export const TerminalsNote = z
  .object({ terminalSessionId: z.uuid().optional(), orgId: z.uuid().optional(), reason: z.enum(['window', 'paused', 'revoked']) })
  .strict()
  .refine((n) => Boolean(n.terminalSessionId ?? n.orgId), 'a terminal or an org');
export type TerminalsNote = z.infer<typeof TerminalsNote>;

export type Listener = (channel: Channel, payload: string) => void;

export interface PgEvents {
  close(): Promise<void>;
}

/** Listens on every channel with its own connection, reconnecting with backoff when it drops. */
export async function listenPgEvents(databaseUrl: string, onEvent: Listener, logger: Logger): Promise<PgEvents> {
  let client: Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (attempt: number): Promise<void> => {
    const c = new Client({ connectionString: databaseUrl });
    c.on('notification', (msg) => {
      if (msg.payload !== undefined) onEvent(msg.channel as Channel, msg.payload);
    });
    c.on('error', (err) => {
      logger.warn({ err: err.message }, 'event listener connection lost; reconnecting');
      client = null;
      void c.end().catch(() => undefined);
      schedule(1);
    });
    await c.connect();
    for (const channel of Object.values(Channel)) await c.query(`LISTEN ${channel}`);
    if (closed) {
      await c.end();
      return;
    }
    client = c;
    if (attempt > 0) logger.info('event listener reconnected');
  };

  const schedule = (attempt: number) => {
    if (closed) return;
    retry = setTimeout(() => {
      connect(attempt).catch(() => schedule(attempt + 1));
    }, Math.min(250 * 2 ** attempt, 5000));
  };

  await connect(0);
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
