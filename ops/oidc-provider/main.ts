/**
 * A local OpenID Connect provider for the demo and the tests: `oidc-provider` (a certified implementation) on
 * loopback, with the users and clients of a JSON file, and a plain sign-in form of its own (e-mail and password) in
 * place of the library's development pages. `npm start` runs it with a demo user whose e-mail is a seeded Gatehouse
 * user's; api/sso.int.test.ts runs it as the provider a partner registered.
 *
 *   node --import tsx ops/oidc-provider/main.ts --config <file.json>
 *
 * The file (0600; it holds the client secrets and the users' passwords):
 *   { "host": "127.0.0.1", "port": 7080,
 *     "clients": [{ "clientId": "...", "clientSecret": "...", "redirectUris": ["http://.../signin/oidc/callback"] }],
 *     "users": [{ "email": "...", "password": "...", "name": "...", "emailVerified": true }] }
 *
 * Prints `oidc-provider listening <issuer>` once it accepts connections. Never for production: the signing key and
 * the cookie keys are made at each start, and everything is kept in memory.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';
import { z } from 'zod';

const Config = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
  clients: z.array(z.object({ clientId: z.string().min(1), clientSecret: z.string().min(16), redirectUris: z.array(z.url()).min(1) })).min(1),
  users: z.array(z.object({ email: z.email(), password: z.string().min(8), name: z.string(), emailVerified: z.boolean().default(true) })).min(1),
});
type Config = z.infer<typeof Config>;

function loadConfig(argv: string[]): Config {
  const at = argv.indexOf('--config');
  const file = at >= 0 ? argv[at + 1] : undefined;
  if (!file) throw new Error('usage: ops/oidc-provider/main.ts --config <file.json>');
  const parsed = Config.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res: http.ServerResponse, uid: string, client: string, error?: string): void {
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo identity provider</title></head><body>` +
      `<h1>Demo identity provider</h1><p>Sign in to continue to <strong>${esc(client)}</strong>.</p>` +
      (error ? `<p role="alert">${esc(error)}</p>` : '') +
      `<form method="post" action="/interaction/${esc(uid)}/login">` +
      `<label>E-mail <input name="email" type="email" autocomplete="username" required></label><br>` +
      `<label>Password <input name="password" type="password" autocomplete="current-password" required></label><br>` +
      `<button type="submit">Sign in</button></form></body></html>`,
  );
}

async function formBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function main(): Promise<void> {
  const config = loadConfig(process.argv);
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const { port } = server.address() as { port: number };
  const issuer = `http://${config.host}:${port}`;
  const users = new Map(config.users.map((u) => [u.email.toLowerCase(), u]));
  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    async findAccount(_ctx, id) {
      const user = users.get(id);
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, email: user.email, email_verified: user.emailVerified, name: user.name }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The ID token carries the e-mail claims itself (relying parties match people by it), not only the userinfo answer.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: [{ ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'demo', use: 'sig', alg: 'RS256' } as never] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  });
  const callback = provider.callback();

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url ?? '/', issuer).pathname);
    if (!match) return void callback(req, res);
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      const client = String(details.params.client_id);
      if (details.prompt.name === 'login') {
        if (req.method !== 'POST' || !match[2]) return loginPage(res, details.uid, client);
        const form = await formBody(req);
        const user = users.get((form.get('email') ?? '').toLowerCase());
        const given = Buffer.from(form.get('password') ?? '');
        const ok = user && given.length === Buffer.byteLength(user.password) && crypto.timingSafeEqual(given, Buffer.from(user.password));
        if (!user || !ok) return loginPage(res, details.uid, client, 'Wrong e-mail or password.');
        return provider.interactionFinished(req, res, { login: { accountId: user.email.toLowerCase() } }, { mergeWithLastSubmission: false });
      }
      // Consent: a demo user grants what Gatehouse asks (openid, email, profile) without a page of its own.
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session!.accountId, clientId: client });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant!.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant!.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant!.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`this sign-in cannot go on: ${(err as Error).message}`);
    });
  });
  console.log(`oidc-provider listening ${issuer}`);
}

main().catch((err: unknown) => {
  console.error(`oidc-provider: ${(err as Error).message}`);
  process.exit(1);
});
