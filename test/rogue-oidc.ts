/**
 * A tiny OpenID provider that misbehaves on purpose, for the refusals a certified provider never produces: an ID
 * token for another client, one already expired, one with another sign-in's nonce, or the same token again. It
 * speaks just enough of the protocol (discovery, authorize, token, JWKS) for Gatehouse's real relying-party code to
 * go all the way to checking the token, which it signs with its own RSA key (so the signature verifies and the
 * check under test is the one that refuses). Loopback only.
 */
import crypto from 'node:crypto';
import http from 'node:http';

export type RogueMode = 'honest' | 'wrong-audience' | 'expired' | 'wrong-nonce' | 'replay-last-token';

export interface RogueProvider {
  issuer: string;
  mode: RogueMode;
  /** The e-mail the ID tokens are about. */
  email: string;
  close(): Promise<void>;
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export async function startRogueProvider(clientId: string, email: string): Promise<RogueProvider> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'rogue', use: 'sig', alg: 'RS256' };
  const codes = new Map<string, { nonce: string }>();
  /** The last token issued in honest mode: `replay-last-token` sends it again. */
  let lastHonest: string | undefined;
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const rogue: RogueProvider = { issuer, mode: 'honest', email, close: () => new Promise((resolve) => server.close(() => resolve())) };

  const sign = (claims: Record<string, unknown>) => {
    const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid: 'rogue' })}.${b64url(claims)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  };

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (url.pathname === '/jwks') return json({ keys: [jwk] });
    if (url.pathname === '/authorize') {
      // Signs the visitor in at once: the refusals under test are Gatehouse's, after this.
      const code = crypto.randomBytes(16).toString('base64url');
      codes.set(code, { nonce: url.searchParams.get('nonce') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => (body += String(c)));
      req.on('end', () => {
        const grant = codes.get(new URLSearchParams(body).get('code') ?? '');
        const now = Math.floor(Date.now() / 1000);
        const expired = rogue.mode === 'expired';
        const idToken = sign({
          iss: issuer,
          sub: rogue.email,
          aud: rogue.mode === 'wrong-audience' ? 'some-other-application' : clientId,
          iat: expired ? now - 7200 : now,
          exp: expired ? now - 3600 : now + 300,
          nonce: rogue.mode === 'wrong-nonce' ? 'a-nonce-of-another-sign-in' : grant?.nonce,
          email: rogue.email,
          email_verified: true,
          name: 'Rogue user',
        });
        if (rogue.mode === 'honest') lastHonest = idToken;
        const token = rogue.mode === 'replay-last-token' && lastHonest ? lastHonest : idToken;
        json({ access_token: crypto.randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: token });
      });
      return;
    }
    res.writeHead(404).end();
  });
  return rogue;
}
