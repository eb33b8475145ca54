/**
 * Fuzzing every route of /openapi.json with malformed input (fast-check, fixed seed): wrong types, unknown and
 * prototype-pollution keys, huge strings, lone surrogates, bodies that are not JSON or not UTF-8, hostile path
 * parameters and query strings. Every answer must be a 4xx with a JSON error naming the problem, never a 5xx; the
 * api keeps serving; Object.prototype stays clean; and this run's tenants are unchanged in the database.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import fc from 'fast-check';
import { orgRowsDigest, startTestSystem, type TestSystem } from '../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const PER_ROUTE = 1_000;
const SEED = 20261121;

/** Keys no schema has: any object carrying one is malformed for every (strict) body. */
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', '$where', '_placeholder', 'num', 'toString', '\u0000', '🙂'.repeat(50), 'a'.repeat(5000));
const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('\ud800', 'a\udc00b', '../../etc/passwd', '%00', '\u202e', "' OR 1=1 --", '${jndi:ldap://x}', '<script>alert(1)</script>'),
  fc.nat({ max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const hostileValue = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom({ _placeholder: true, num: 0 }, [], {}, { __proto__: { polluted: true } }),
  fc.array(fc.string(), { maxLength: 5 }),
);
/** A JSON body that cannot be valid: it always has at least one key no route declares. */
const malformedObject = fc
  .tuple(fc.dictionary(fc.string({ maxLength: 20 }), hostileValue, { maxKeys: 5 }), hostileKey, hostileValue)
  .map(([base, key, value]) => `{${[...Object.entries(base).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`), `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`].join(',')}}`);
const rawBody = fc.oneof(
  malformedObject,
  fc.jsonValue().map((v) => JSON.stringify(v)).filter((t) => !t.startsWith('{')),
  fc.constantFrom('{', '{"a":', 'null', '[]', '"\\ud800"', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '\u0000', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xff, 0xfe, ...bytes]), Buffer.from('"}')]).toString('latin1')),
);
/** A path segment, already encoded (some on purpose not valid UTF-8 once decoded). */
const pathParam = fc.oneof(
  fc.uuid(),
  fc.string({ minLength: 1, maxLength: 40 }).map((v) => {
    try {
      return encodeURIComponent(v);
    } catch {
      return '%ED%A0%80'; // a lone surrogate cannot be encoded: send its bytes, which are not UTF-8
    }
  }),
  fc.constantFrom('..', '%2e%2e', '%00', '%ff', '%ED%A0%80', 'a'.repeat(2000), '__proto__', 'constructor', '%E2%80%AE'),
);
const query = fc.dictionary(fc.constantFrom('org', 'online', 'status', 'limit', '__proto__', 'x'), fc.string({ maxLength: 30 }), { maxKeys: 3 });

interface Case {
  method: string;
  path: string;
  /** The part of the request made malformed. */
  part: 'body' | 'params' | 'query';
  body?: string;
  /** Sent as bytes, not as a JS string (invalid UTF-8). */
  latin1?: boolean;
}

/** node:http rather than fetch: fetch refuses a GET with a body, and a client can send one. */
function send(key: string, c: Case): Promise<{ status: number; json: unknown }> {
  const body = c.body === undefined ? undefined : Buffer.from(c.body, c.latin1 ? 'latin1' : 'utf8');
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(c.path, sys.url),
      {
        method: c.method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let json: unknown = null;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // reported by the caller as a non-JSON answer
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function tenantDigest(): Promise<string> {
  const orgIds = [sys.seed.orgs.acme.id, sys.seed.orgs.globex.id];
  const tables = ['Organization', 'Site', 'DeviceGroup', 'Device', 'CopilotSession', 'ToolInvocation', 'Approval', 'Script', 'EnrollmentKey', 'RoleBinding', 'PolicyOverride', 'OrgBudget', 'SlackChannel', 'DeviceCommand', 'AuditEvent'];
  const rows = await orgRowsDigest(sys.prisma, tables, orgIds);
  const [users] = await sys.prisma.$queryRawUnsafe<{ d: string | null }[]>(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM (SELECT u.*, (SELECT count(*) FROM "ApiKey" k WHERE k."userId" = u.id AND k."revokedAt" IS NULL) AS keys FROM "User" u WHERE u."partnerId" = $1::uuid) t`, sys.seed.partnerId);
  return [rows, `User:${users?.d}`].join('\n');
}

it('answers thousands of malformed requests per route with 4xx only, and changes nothing', async () => {
  // A partner admin holding every role in acme: validation, not a missing permission, must be what stops each request.
  const caller = await sys.createUser(['technician', 'approver', 'admin', 'auditor']);
  await sys.prisma.user.update({ where: { id: caller.userId }, data: { partnerAdmin: true } });
  const before = await tenantDigest();
  const openapi = (await sys.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { requestBody?: unknown; parameters: { in: string }[] }>> };

  const failures: string[] = [];
  let sent = 0;
  const routes = Object.entries(openapi.paths).flatMap(([template, ops]) => Object.entries(ops).map(([method, op]) => ({ template, method: method.toUpperCase(), op })));
  for (const [i, { template, method, op }] of routes.entries()) {
    const hasParams = template.includes('{');
    const hasQuery = op.parameters.some((p) => p.in === 'query');
    // Each case breaks at least one part of the request, so none can be valid.
    const arbitrary = fc
      .record({ params: fc.array(pathParam, { minLength: 2, maxLength: 2 }), query, body: rawBody, latin1: fc.boolean(), breakPart: fc.constantFrom('body', 'params', 'query') })
      .map(({ params, query: q, body, latin1, breakPart }): Case => {
        const part = breakPart === 'params' && hasParams ? 'params' : breakPart === 'query' && hasQuery && !op.requestBody ? 'query' : 'body';
        const path = template.replace('{id}', () => (part === 'params' ? params[0]! : crypto.randomUUID())).replace('{name}', () => params[1]!);
        const qs = part === 'query' ? `?${new URLSearchParams({ ...q, bogus: '1' }).toString()}` : '';
        return { method, path: path + qs, part, body: part === 'body' || op.requestBody ? body : undefined, latin1: latin1 && /[\x80-\xff]/.test(body) };
      });
    const cases = fc.sample(arbitrary, { numRuns: PER_ROUTE, seed: SEED + i });
    for (let start = 0; start < cases.length; start += 16) {
      await Promise.all(
        cases.slice(start, start + 16).map(async (c) => {
          const res = await send(caller.key, c);
          sent += 1;
          const error = (res.json as { error?: { code?: string; message?: string } } | null)?.error;
          // A route that takes no body ignores a well-formed JSON one (and still must not fail or change anything).
          if (c.part === 'body' && !op.requestBody && res.status < 400 && res.json !== null) return;
          if (res.status < 400 || res.status >= 500 || !error?.message) {
            failures.push(`${c.method} ${c.path.slice(0, 120)} body=${JSON.stringify(c.body?.slice(0, 120))} → ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
          }
        }),
      );
    }
  }
  expect(failures.slice(0, 20)).toEqual([]);
  expect(sent).toBe(routes.length * PER_ROUTE);
  // Still serving, nothing polluted, nothing changed.
  expect((await sys.request('GET', '/healthz')).status).toBe(200);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(await tenantDigest()).toBe(before);
}, 600_000);
