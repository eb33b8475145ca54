/**
 * Builds the api: Express for REST, Socket.IO on the same HTTP server for `/agents` and `/console`, and the
 * PostgreSQL listener that connects both to the worker. `createApiServer(deps)` is what main.ts and tests use.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { MAX_AGENT_FRAME_BYTES } from '../common/protocol';
import { Channel, CommandsNote, listenPgEvents, type PgEvents } from '../lib/pg-events';
import { SessionEvent } from '../lib/session-events';
import type { ApiDeps } from './deps';
import { collectFromDatabase, countAgentsOf } from './metrics';
import { createAgentGateway, type AgentGateway, type AgentNamespace } from './gateway/agents';
import { createConsoleGateway, type ConsoleNamespace } from './gateway/console';
import { createTerminalGateway, type TerminalGateway, type TerminalNamespace } from './gateway/terminals';
import { TerminalsNote } from '../lib/pg-events';
import { terminalRoutes } from './routes/terminals';
import { errorHandler, notFoundHandler, refuseInvalidUtf8 } from './http/errors';
import { buildOpenApi, registerRoutes, type AnyRoute } from './http/route';
import { createWebAuth, type WebAuth } from './http/web-session';
import { traceRequests } from './http/tracing';
import { agentRoutes } from './routes/agents';
import { enrollmentKeyRoutes } from './routes/enrollment-keys';
import { identityRoutes } from './routes/identity';
import { ssoRoutes } from './routes/sso';
import { tenancyRoutes } from './routes/tenancy';
import { deviceRoutes } from './routes/devices';
import { healthRoutes } from './routes/health';
import { sessionRoutes } from './routes/sessions';
import { approvalRoutes } from './routes/approvals';
import { orgControlRoutes } from './routes/orgs';
import { policyRoutes } from './routes/policy';
import { auditRoutes } from './routes/audit';
import { CODEC_BODY_LIMIT_BYTES, codecCors, codecRoutes } from './routes/codec';
import { emailApprovalRoutes } from './routes/email-approvals';
import { passkeyRoutes } from './routes/passkeys';
import { webSessionRoutes } from './routes/web-sessions';
import { oauthGrantRoutes } from './routes/oauth-grants';
import { slackAdminRoutes } from './routes/slack-admin';
import { scriptRoutes } from './routes/scripts';
import { mcpUpstreamRoutes } from './routes/mcp-upstreams';
import { remediationRoutes } from './routes/remediations';
import { commandRoutes } from './routes/commands';
import { releaseStale } from '../lib/budget';
import { deliverPendingDecisions } from './services/decide-approval';
import { tellMissedResumes } from './services/orgs';
import { createMailTransport, notifyApprovers } from './services/notify-approvers';
import { createSlackClient, slackSweep } from './services/slack';
import type { WebClient } from '@slack/web-api';
import { slackInteractions } from './routes/slack';
import { approvalLinkPages } from './pages/approval-link';
import { signInPage } from './pages/sign-in';
import { ssoPages } from './pages/sso';
import { slackLinkPages } from './pages/slack-link';
import { passwordResetPages } from './pages/password-reset';
import { oauthRouter } from './oauth/router';
import { createMcpEndpoint, type McpEndpoint } from './mcp/endpoint';
import { TurnEnds } from './turn-ends';

/** Every REST route, one list a domain (each routes/<domain>.ts exports its own). */
export const ROUTES: AnyRoute[] = [
  ...healthRoutes,
  ...agentRoutes,
  ...enrollmentKeyRoutes,
  ...sessionRoutes,
  ...deviceRoutes,
  ...approvalRoutes,
  ...remediationRoutes,
  ...commandRoutes,
  ...orgControlRoutes,
  ...policyRoutes,
  ...emailApprovalRoutes,
  ...passkeyRoutes,
  ...webSessionRoutes,
  ...oauthGrantRoutes,
  ...slackAdminRoutes,
  ...scriptRoutes,
  ...mcpUpstreamRoutes,
  ...auditRoutes,
  ...codecRoutes,
  ...identityRoutes,
  ...ssoRoutes,
  ...tenancyRoutes,
  ...terminalRoutes,
];

export interface ApiServer {
  http: http.Server;
  io: Server;
  gateway: AgentGateway;
  terminals: TerminalGateway;
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Connections the kernel may hold for the api before it accepts them. A fleet reconnecting after an api restart
 * opens a thousand or more at once, faster than one event loop accepts them; past Node's default of 511 the kernel
 * drops or resets the rest, and those agents see a refused connection and back off (fleet-reconnect.int.test.ts).
 * The kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4).
 */
const LISTEN_BACKLOG = 4096;

const secureCookies = (deps: ApiDeps) => deps.config.publicUrl?.startsWith('https:') ?? false;

/**
 * The technician console: static files from web/ (no build step) and the socket.io client from node_modules.
 * No inline script or style anywhere, so the policy allows only our own files; everything the pages show from the
 * server is set as text, never parsed as HTML.
 */
function consoleFiles(): express.Router {
  const router = express.Router();
  // The browser build of the client (the package's exports list only its Node entry points).
  const webAuthnBrowser = path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '..', 'esm');
  const socketClient = path.join(path.dirname(require.resolve('socket.io-client/package.json')), 'dist', 'socket.io.esm.min.js');
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
    next();
  });
  // @simplewebauthn/browser's ES modules, served as they are (no CDN: the console loads nothing from elsewhere).
  router.use('/vendor/simplewebauthn', express.static(webAuthnBrowser, { index: false, dotfiles: 'ignore', extensions: false, setHeaders: (res) => res.set('Content-Type', 'text/javascript; charset=utf-8') }));
  router.get('/vendor/socket.io.esm.min.js', (_req, res) => {
    res.sendFile(socketClient, { headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
  });
  // The remote terminal's emulator (@xterm/xterm, its fit addon), served from node_modules like the socket.io client.
  const xterm = path.dirname(require.resolve('@xterm/xterm/package.json'));
  const fit = path.dirname(require.resolve('@xterm/addon-fit/package.json'));
  const vendor: Record<string, [file: string, type: string]> = {
    '/vendor/xterm.mjs': [path.join(xterm, 'lib', 'xterm.mjs'), 'text/javascript; charset=utf-8'],
    '/vendor/xterm.css': [path.join(xterm, 'css', 'xterm.css'), 'text/css; charset=utf-8'],
    '/vendor/addon-fit.mjs': [path.join(fit, 'lib', 'addon-fit.mjs'), 'text/javascript; charset=utf-8'],
  };
  for (const [route, [file, type]] of Object.entries(vendor)) router.get(route, (_req, res) => res.sendFile(file, { headers: { 'Content-Type': type } }));
  // no-cache: the browser revalidates, so a new version of a page is picked up at the next load.
  router.use(express.static(path.resolve(__dirname, '..', 'web'), { index: 'index.html', cacheControl: true, maxAge: 0, extensions: false, dotfiles: 'ignore' }));
  return router;
}


/** `baseUrl`: where people reach the api (for links handed out in Slack); known once it listens, unless configured. */
export function createApp(
  deps: ApiDeps,
  web: WebAuth,
  mcp: McpEndpoint,
  slack?: WebClient,
  baseUrl: () => string | undefined = () => deps.config.publicUrl,
): express.Express {
  const app = express();
  app.use(traceRequests());
  // Before the JSON parser: the signature covers the raw body.
  if (slack && deps.config.slack) app.use(slackInteractions(deps, slack, deps.config.slack, baseUrl));
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // MCP clients at /mcp: their own JSON parser and JSON-RPC errors (api/mcp/endpoint.ts).
  app.use(mcp.router);
  // The Temporal UI's codec calls: CORS first (preflights and errors carry it too), and a body up to one payload's size.
  app.use('/codec', codecCors(deps.config.temporalUiUrl), express.json({ limit: CODEC_BODY_LIMIT_BYTES, verify: refuseInvalidUtf8 }));
  app.use(express.json({ limit: deps.config.bodyLimitBytes, verify: refuseInvalidUtf8 }));
  app.get('/openapi.json', (_req, res) => {
    res.json(buildOpenApi(ROUTES));
  });
  app.use(web.middleware);
  // OAuth 2.1 for MCP clients: metadata, registration, /authorize, /token, /revoke and the consent page (api/oauth/).
  app.use(oauthRouter(deps, web));
  registerRoutes(app, deps, ROUTES, web, baseUrl);
  const pages = { secret: deps.config.webSecret, secureCookies: secureCookies(deps) };
  app.use(approvalLinkPages(deps, pages));
  app.use(signInPage(deps, web, pages));
  app.use(ssoPages(deps, pages, baseUrl));
  app.use(passwordResetPages(deps, pages));
  if (slack) app.use(slackLinkPages(deps, slack, pages));
  app.use(consoleFiles());
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}

export async function createApiServer(deps: ApiDeps): Promise<ApiServer> {
  const slack = deps.config.slack ? createSlackClient(deps.config.slack) : undefined;
  const web = createWebAuth({ databaseUrl: deps.config.databaseUrl, secret: deps.config.webSecret, secureCookies: secureCookies(deps), ...deps.config.webSession });
  let baseUrl = deps.config.publicUrl;
  // Turn ends heard on this node wake the MCP tool calls waiting on them (fed by the listener below).
  const turnEnds = new TurnEnds();
  const mcp = createMcpEndpoint(deps, turnEnds);
  const app = createApp(deps, web, mcp, slack, () => baseUrl);
  const server = http.createServer(app);
  // The client must be the side that closes an idle connection. Node's default (5 s) is shorter than the idle timeout
  // of most clients and load balancers (undici keeps a socket 4 s after a `timeout=5` hint, an AWS ALB 60 s), so a
  // request sent as the server closes the socket fails with ECONNRESET. The header timeout must outlast it too, or an
  // idle connection would be cut by that timer instead.
  server.keepAliveTimeout = deps.config.httpKeepAliveSeconds * 1000;
  server.headersTimeout = server.keepAliveTimeout + 1000;
  // Every frame is bounded (a larger one closes its connection). Connection-state recovery stays off: queued commands
  // come back from PostgreSQL anyway, and by default it lets a recovered connection skip the credential check (a
  // revoked agent would be back; agent-security.int.test.ts catches that). Turning it on needs `skipMiddlewares: false`
  // and AgentAuth to allow the `pid` and `offset` that clients then add to their handshake.
  const io = new Server(server, { maxHttpBufferSize: MAX_AGENT_FRAME_BYTES, serveClient: false });
  // Every api node shares Socket.IO state through Redis Streams (rooms, fetchSockets across nodes). Commands do not
  // depend on it: the worker announces them through PostgreSQL to every node, and the node holding the agent's
  // connection delivers them. Its own connection: the adapter reads the stream with blocking XREAD.
  const adapterRedis = deps.redis.duplicate({ enableOfflineQueue: true });
  adapterRedis.on('error', (err) => deps.logger.warn({ err: err.message }, 'Socket.IO adapter: Redis unavailable'));
  // Short blocking reads, so a closing node lets go of Redis within half a second.
  io.adapter(createAdapter(adapterRedis, { streamName: deps.config.socketIoStream, blockTimeInMs: 500 }));
  // The console page's websocket is authenticated by its session cookie (see gateway/console.ts).
  io.engine.use(web.handshake);
  // The agents' terminal frames go to the `/terminal` relays (made just below; no frame arrives before listen()).
  const gateway = createAgentGateway(io.of('/agents') as AgentNamespace, deps, () => terminals);
  const terminals: TerminalGateway = createTerminalGateway(io.of('/terminal') as TerminalNamespace, deps, (deviceId) => gateway.live(deviceId), deps.config.terminals);
  const consoleGateway = createConsoleGateway(io.of('/console') as ConsoleNamespace, deps);
  const uncountAgents = countAgentsOf(deps.metrics, gateway);
  collectFromDatabase(deps);

  const events: PgEvents = await listenPgEvents(
    deps.config.databaseUrl,
    (channel, payload) => {
      let json: unknown;
      try {
        json = JSON.parse(payload);
      } catch {
        return;
      }
      if (channel === Channel.Commands) {
        const note = CommandsNote.safeParse(json);
        if (note.success) void gateway.deliver(note.data.commands).catch((err: unknown) => deps.logger.error({ err }, 'delivery failed'));
      } else if (channel === Channel.Terminals) {
        const note = TerminalsNote.safeParse(json);
        if (note.success) terminals.close(note.data);
      } else if (channel === Channel.SessionEvents) {
        const event = SessionEvent.safeParse(json);
        if (event.success) {
          consoleGateway.publish(event.data);
          turnEnds.told(event.data);
        }
      }
    },
    deps.logger,
  );

  const transport = deps.config.mail ? createMailTransport(deps.config.mail) : undefined;
  const mailSweep = async () => {
    const mail = transport && deps.config.mail && baseUrl ? { transport, config: deps.config.mail, baseUrl } : undefined;
    if (mail || slack) await notifyApprovers(deps, { mail, slack });
    if (slack) await slackSweep(deps, slack, baseUrl);
  };

  // The sweep in progress, if any: close() waits for it, so nothing of it runs on connections closed after close().
  let sweeping: Promise<void> | undefined;
  const sweepTimer = setInterval(() => {
    if (sweeping) return;
    // Reservations of calls that never finished (a crashed worker) go back after 15 minutes.
    sweeping = Promise.all([gateway.sweep(), deliverPendingDecisions(deps), releaseStale(deps.prisma, 15 * 60_000), mailSweep(), tellMissedResumes(deps)])
      .then(() => undefined)
      .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'command sweep failed'))
      .finally(() => {
        sweeping = undefined;
      });
  }, deps.config.sweepIntervalMs);

  let closing: Promise<void> | undefined;
  return {
    http: server,
    io,
    gateway,
    terminals,
    async listen(port, host) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const url = `http://${host}:${address.port}`;
      baseUrl ??= url;
      return url;
    },
    // Once: a second call (a test's own stop, then the harness's) waits for the first.
    close() {
      closing ??= (async () => {
        clearInterval(sweepTimer);
        await sweeping;
        await mcp.close();
        transport?.close();
        web.close();
        await events.close();
        terminals.shutdown();
        await gateway.close();
        uncountAgents();
        await new Promise<void>((resolve) => io.close(() => resolve()));
        adapterRedis.disconnect();
      })();
      return closing;
    },
  };
}
