/**
 * Fuzzing every route of /openapi.json with malformed input: wrong types, unknown and prototype-pollution keys,
 * huge strings, lone surrogates, bodies that are not JSON or not UTF-8, hostile path parameters and query strings.
 * Each route gets targeted cases (every hostile value in every field it declares, every hostile path parameter and
 * query value, every hostile body) and then random ones (fast-check, fixed seed; TEST_FUZZ_CASES_PER_ROUTE of them).
 * Every answer must be a 4xx with a JSON error naming the problem, never a 5xx; the api keeps serving;
 * Object.prototype stays clean; and this run's tenants are unchanged in the database.
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

const SEED = 20261121;

/** Keys no schema has: any object carrying one is malformed for every (strict) body. */
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '$where', '_placeholder', 'num', 'toString', '\u0000', '🙂'.repeat(50), 'a'.repeat(5000)];
const HOSTILE_STRINGS = ['', '\ud800', 'a\udc00b', '../../etc/passwd', '%00', '\u0000', '\u202e', "' OR 1=1 --", '${jndi:ldap://x}', '<script>alert(1)</script>', '🙂'.repeat(50), 'a'.repeat(5000)];
/** As JSON text, so the few that JSON.stringify cannot write (1e999, a literal "__proto__" key, deep nesting) are sent too. */
const HOSTILE_JSON_VALUES = [
  ...HOSTILE_STRINGS.map((v) => JSON.stringify(v)),
  ...['0', '-1', '-0', '1.5', '1e999', '123456789012345678901234567890', 'true', 'false', 'null', '{}', '[]', '["a"]'],
  ...['{"_placeholder":true,"num":0}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', `${'['.repeat(40)}${']'.repeat(40)}`],
];
/** Just under and just over the api's 256 KiB body limit. */
const HUGE_JSON_VALUES = [JSON.stringify('x'.repeat(250_000)), JSON.stringify('x'.repeat(300_000))];
const RAW_BODIES = ['{', '{"a":', 'null', '[]', '"\\ud800"', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '\u0000', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'];
/** Already encoded (some on purpose not valid UTF-8 once decoded). */
const HOSTILE_PATH_PARAMS = ['..', '%2e%2e', '%00', '%ff', '%ED%A0%80', 'a'.repeat(2000), '__proto__', 'constructor', '%E2%80%AE', 'not-a-uuid', '%20', '0'];

const hostileKey = fc.constantFrom(...HOSTILE_KEYS);
const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom(...HOSTILE_STRINGS),
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
/**
 * `{"<field>":"<bytes>"…}` with bytes that are not UTF-8 (0xff 0xfe first), as a latin1 string: sent as raw bytes.
 * The api's JSON parser decodes them as U+FFFD, so a body whose only field is a declared one can be valid: `rest`
 * adds what keeps it malformed.
 */
const notUtf8Body = (field: string, bytes: Iterable<number>, rest = '') =>
  Buffer.concat([Buffer.from(`{${JSON.stringify(field)}:"`), Buffer.from([0xff, 0xfe, ...bytes]), Buffer.from(`"${rest}}`)]).toString('latin1');
/** A JSON body that cannot be valid: it always has at least one key no route declares. */
const malformedObject = fc
  .tuple(fc.dictionary(fc.string({ maxLength: 20 }), hostileValue, { maxKeys: 5 }), hostileKey, hostileValue)
  .map(([base, key, value]) => `{${[...Object.entries(base).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`), `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`].join(',')}}`);
const rawBody = fc.oneof(
  malformedObject,
  fc.jsonValue().map((v) => JSON.stringify(v)).filter((t) => !t.startsWith('{')),
  fc.constantFrom(...RAW_BODIES),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => notUtf8Body('text', bytes)),
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
  fc.constantFrom(...HOSTILE_PATH_PARAMS),
);
const query = fc.dictionary(fc.constantFrom('org', 'online', 'status', 'limit', '__proto__', 'x'), fc.string({ maxLength: 30 }), { maxKeys: 3 });

interface Route {
  template: string;
  method: string;
  op: { requestBody?: { content: { 'application/json': { schema: { properties?: Record<string, unknown> } } } }; parameters: { in: string; name: string }[] };
}

interface Case {
  method: string;
  path: string;
  /** The part of the request made malformed. */
  part: 'body' | 'params' | 'query';
  body?: string;
  /** Sent as bytes, not as a JS string (invalid UTF-8). */
  latin1?: boolean;
}

const fill = (template: string, id: string, name: string) => template.replace('{id}', () => id).replace('{name}', () => name);

/**
 * The cases a random sample may miss: every hostile value in every field the route declares (beside a key no
 * schema has, so the body stays invalid while the field's own validation still runs), every hostile body, every
 * hostile path parameter, every hostile query value. Deterministic, so each run sends the same ones.
 */
function targetedCases({ template, method, op }: Route): Case[] {
  const cases: Case[] = [];
  const fields = Object.keys(op.requestBody?.content['application/json'].schema.properties ?? {});
  const path = () => fill(template, crypto.randomUUID(), 'fuzz');
  const invalidBody = op.requestBody ? '{"_placeholder":true}' : undefined;
  // The body: a route without one must ignore it (and still neither fail nor change anything).
  fields.forEach((field, f) => {
    const values = f === 0 ? [...HOSTILE_JSON_VALUES, ...HUGE_JSON_VALUES] : HOSTILE_JSON_VALUES;
    values.forEach((value, v) => {
      const key = HOSTILE_KEYS[(f + v) % HOSTILE_KEYS.length]!;
      cases.push({ method, path: path(), part: 'body', body: `{${JSON.stringify(field)}:${value},${JSON.stringify(key)}:1}` });
    });
    cases.push({ method, path: path(), part: 'body', body: notUtf8Body(field, [0x41], `,${JSON.stringify(HOSTILE_KEYS[f % HOSTILE_KEYS.length])}:1`), latin1: true });
  });
  for (const key of HOSTILE_KEYS) cases.push({ method, path: path(), part: 'body', body: `{${JSON.stringify(key)}:${HOSTILE_JSON_VALUES[key.length % HOSTILE_JSON_VALUES.length]}}` });
  for (const body of RAW_BODIES) cases.push({ method, path: path(), part: 'body', body });
  cases.push({ method, path: path(), part: 'body', body: notUtf8Body('text', [0x80, 0xc0]), latin1: true });
  // Path parameters, one at a time.
  for (const param of HOSTILE_PATH_PARAMS) {
    if (template.includes('{id}')) cases.push({ method, path: fill(template, param, 'fuzz'), part: 'params', body: invalidBody });
    if (template.includes('{name}')) cases.push({ method, path: fill(template, crypto.randomUUID(), param), part: 'params', body: invalidBody });
  }
  // Query values (with a parameter no route declares, so the query stays invalid).
  const names = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
  if (names.length > 0 && !op.requestBody) {
    for (const name of [...names, '__proto__', 'x']) {
      for (const value of HOSTILE_STRINGS) cases.push({ method, path: `${path()}?${new URLSearchParams({ [name]: value, bogus: '1' }).toString()}`, part: 'query' });
    }
  }
  return cases;
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
  const tables = ['Organization', 'Site', 'DeviceGroup', 'Device', 'CopilotSession', 'ToolInvocation', 'Approval', 'Script', 'EnrollmentKey', 'RoleBinding', 'PolicyVersion', 'SlackChannel', 'DeviceCommand', 'AuditEvent'];
  const rows = await orgRowsDigest(sys.prisma, tables, orgIds);
  const [users] = await sys.prisma.$queryRawUnsafe<{ d: string | null }[]>(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM (SELECT u.*, (SELECT count(*) FROM "ApiKey" k WHERE k."userId" = u.id AND k."revokedAt" IS NULL) AS keys FROM "User" u WHERE u."partnerId" = $1::uuid) t`, sys.seed.partnerId);
  return [rows, `User:${users?.d}`].join('\n');
}

it('answers every hostile value in every field of every route, and random malformed requests to each, with 4xx only, and changes nothing', async () => {
  // A partner admin holding every role in acme: validation, not a missing permission, must be what stops each request.
  const caller = await sys.createUser(['technician', 'approver', 'admin', 'auditor']);
  await sys.prisma.user.update({ where: { id: caller.userId }, data: { partnerAdmin: true } });
  const before = await tenantDigest();
  const openapi = (await sys.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, Route['op']>> };
  const randomPerRoute = sys.env.TEST_FUZZ_CASES_PER_ROUTE;

  const failures: string[] = [];
  let sent = 0;
  let planned = 0;
  const routes: Route[] = Object.entries(openapi.paths).flatMap(([template, ops]) => Object.entries(ops).map(([method, op]) => ({ template, method: method.toUpperCase(), op })));
  for (const [i, route] of routes.entries()) {
    const { template, method, op } = route;
    const hasParams = template.includes('{');
    const hasQuery = op.parameters.some((p) => p.in === 'query');
    // Each case breaks at least one part of the request, so none can be valid.
    const arbitrary = fc
      .record({ params: fc.array(pathParam, { minLength: 2, maxLength: 2 }), query, body: rawBody, latin1: fc.boolean(), breakPart: fc.constantFrom('body', 'params', 'query') })
      .map(({ params, query: q, body, latin1, breakPart }): Case => {
        const part = breakPart === 'params' && hasParams ? 'params' : breakPart === 'query' && hasQuery && !op.requestBody ? 'query' : 'body';
        const path = fill(template, part === 'params' ? params[0]! : crypto.randomUUID(), params[1]!);
        const qs = part === 'query' ? `?${new URLSearchParams({ ...q, bogus: '1' }).toString()}` : '';
        return { method, path: path + qs, part, body: part === 'body' || op.requestBody ? body : undefined, latin1: latin1 && /[\x80-\xff]/.test(body) };
      });
    const cases = [...targetedCases(route), ...fc.sample(arbitrary, { numRuns: randomPerRoute, seed: SEED + i })];
    planned += cases.length;
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
  expect(sent).toBe(planned);
  expect(planned).toBeGreaterThanOrEqual(routes.length * (randomPerRoute + RAW_BODIES.length + HOSTILE_KEYS.length));
  // Still serving, nothing polluted, nothing changed.
  expect((await sys.request('GET', '/healthz')).status).toBe(200);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(await tenantDigest()).toBe(before);
}, 600_000);
