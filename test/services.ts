/**
 * Real services a test can stop and start: a dedicated redis-server process, a TCP path to PostgreSQL that
 * can be cut (every connection dropped, new ones refused) and restored, as an outage looks to the clients, an
 * SMTP server that keeps what it receives, and a Jaeger that keeps the traces it is sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { existsSync } from 'node:fs';
import { spawnJaeger, type JaegerPorts } from '../lib/jaeger';
import { waitForPort } from '../lib/tcp';

export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
}

/** A real SMTP server on a free loopback port (smtp-server), parsing every mail it accepts (mailparser). */
export class SmtpInbox {
  private constructor(
    private readonly server: SMTPServer,
    readonly url: string,
    readonly mails: ReceivedMail[],
  ) {}

  static async start(): Promise<SmtpInbox> {
    const mails: ReceivedMail[] = [];
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((mail) => {
            mails.push({ to: session.envelope.rcptTo.map((r) => r.address), subject: mail.subject ?? '', text: mail.text ?? '' });
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.server.address() as AddressInfo;
    return new SmtpInbox(server, `smtp://127.0.0.1:${port}`, mails);
  }

  /** The first mail to `address` matching `subject`, waiting for it to arrive. */
  async waitFor(address: string, subject: RegExp, timeoutMs = 30_000, also: (m: ReceivedMail) => boolean = () => true): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.mails.find((m) => m.to.includes(address) && subject.test(m.subject) && also(m));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no mail to ${address} with subject ${subject} (got: ${this.mails.map((m) => `${m.to.join(',')}: ${m.subject}`).join('; ') || 'nothing'})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitPort(port: number, open: boolean): Promise<void> {
  if (!(await waitForPort('127.0.0.1', port, { seconds: 5, open }))) throw new Error(`port ${port} did not become ${open ? 'open' : 'closed'}`);
}

export class DedicatedRedis {
  private proc: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<DedicatedRedis> {
    const r = new DedicatedRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitPort(this.port, true);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    await new Promise((resolve) => {
      proc.once('exit', resolve);
      proc.kill('SIGKILL');
    });
    await waitPort(this.port, false);
  }
}

export class CuttableTcpPath {
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async open(target: { host: string; port: number }): Promise<CuttableTcpPath> {
    const p = new CuttableTcpPath(await freePort(), target);
    await p.restore();
    return p;
  }

  async restore(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

export interface SlackCall {
  method: string;
  args: Record<string, any>;
  token: string;
  at: number;
}

/**
 * A local server speaking the Slack Web API (the methods Gatehouse calls), so the real @slack/web-api client is
 * exercised at the wire. It records every call; object fields (blocks, view) are parsed back from their JSON.
 */
export class FakeSlack {
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    readonly calls: SlackCall[],
    /** The workspace directory `users.info` answers from: Slack user id → the e-mail in their Slack profile. */
    readonly users: Map<string, string>,
  ) {}

  static async start(): Promise<FakeSlack> {
    const calls: SlackCall[] = [];
    const users = new Map<string, string>();
    let n = 0;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const method = (req.url ?? '').replace(/^\/api\//, '');
        const raw = Buffer.concat(chunks).toString('utf8');
        const args: Record<string, any> = (req.headers['content-type'] ?? '').includes('json') ? JSON.parse(raw || '{}') : Object.fromEntries(new URLSearchParams(raw));
        for (const [k, v] of Object.entries(args)) {
          if (typeof v === 'string' && /^[[{]/.test(v)) {
            try {
              args[k] = JSON.parse(v);
            } catch {
              // a plain string after all
            }
          }
        }
        calls.push({ method, args, token: String(req.headers.authorization ?? ''), at: Date.now() });
        n += 1;
        const ts = `${Math.floor(Date.now() / 1000)}.${String(n).padStart(6, '0')}`;
        const body =
          method === 'chat.postMessage' || method === 'chat.update'
            ? { ok: true, channel: args.channel, ts: args.ts ?? ts, message: { text: args.text } }
            : method === 'chat.postEphemeral'
              ? { ok: true, message_ts: ts }
              : method === 'views.open'
                ? { ok: true, view: { id: `V${n}` } }
                : method === 'users.info'
                  ? users.has(args.user)
                    ? { ok: true, user: { id: args.user, deleted: false, is_bot: false, profile: { email: users.get(args.user), real_name: args.user } } }
                    : { ok: false, error: 'user_not_found' }
                  : { ok: false, error: 'unknown_method' };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new FakeSlack(server, `http://127.0.0.1:${port}/api/`, calls, users);
  }

  /** The first call of `method` matching `also`, waiting for it. */
  async waitFor(method: string, also: (c: SlackCall) => boolean = () => true, timeoutMs = 30_000): Promise<SlackCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.calls.find((c) => c.method === method && also(c));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no Slack ${method} call (got: ${this.calls.map((c) => c.method).join(', ') || 'none'})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A span as Jaeger's query API returns it, with its process's service name. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  /** Microseconds since the epoch. */
  startTime: number;
  duration: number;
  references: { refType: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
  service: string;
}

/**
 * The real Jaeger (the binary the set-up builds, lib/jaeger.ts) on free loopback ports: processes export OTLP to
 * `otlpUrl`, and `traces` reads them back through the query API, as the UI does.
 */
export class JaegerServer {
  private constructor(
    private readonly proc: ChildProcess,
    readonly ports: JaegerPorts,
  ) {}

  static async start(binary: string): Promise<JaegerServer> {
    if (!existsSync(binary)) throw new Error(`Jaeger is not at ${binary}; run the set-up (node scripts/setup.mjs --test), which builds it`);
    const ports = { otlpHttp: await freePort(), ui: await freePort(), queryGrpc: await freePort() };
    const proc = spawnJaeger(binary, ports);
    proc.stdout?.resume();
    proc.stderr?.resume();
    const server = new JaegerServer(proc, ports);
    try {
      await waitPort(ports.ui, true);
      await waitPort(ports.otlpHttp, true);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get otlpUrl(): string {
    return `http://127.0.0.1:${this.ports.otlpHttp}`;
  }

  /** Its UI, as `npm start` prints it. */
  get uiUrl(): string {
    return `http://127.0.0.1:${this.ports.ui}/`;
  }

  /** The traces of `service` Jaeger holds, each as its spans. */
  async traces(service: string): Promise<JaegerSpan[][]> {
    const res = await fetch(`http://127.0.0.1:${this.ports.ui}/api/traces?service=${encodeURIComponent(service)}&limit=100&lookback=1h`);
    if (!res.ok) throw new Error(`Jaeger query answered ${res.status}`);
    type RawSpan = Omit<JaegerSpan, 'service'> & { processID: string };
    const body = (await res.json()) as { data: { spans: RawSpan[]; processes: Record<string, { serviceName: string }> }[] | null };
    return (body.data ?? []).map((t) => t.spans.map(({ processID, ...span }) => ({ ...span, service: t.processes[processID]?.serviceName ?? '?' })));
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise((resolve) => {
      proc.once('exit', resolve);
      proc.kill('SIGTERM');
    });
  }
}
