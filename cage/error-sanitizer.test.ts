import { sanitizeError } from './error-sanitizer';

const LEAKS = [
  new Error('ENOENT: no such file or directory, open \'/etc/gatehouse/secrets/signing.key\'\n    at Object.openSync (node:fs:573:3)\n    at /srv/gatehouse/agent/main.ts:42:7'),
  Object.assign(new Error('Invalid `prisma.device.findMany()` invocation: Raw query failed. Code: `42P01`. SELECT * FROM "Device" WHERE "orgId" = \'9f1c\''), { code: 'P2010' }),
  new Error("Can't reach database server at db-primary.internal.northwind.lan:5432 (postgresql://gatehouse:hunter2@db-primary.internal.northwind.lan/gatehouse)"),
  new Error('ReplyError: NOAUTH Authentication required. redis://:s3cret@cache-01.corp.local:6379'),
  new Error('connect ECONNREFUSED 10.12.0.7:7233 (temporal-frontend.prod.svc.cluster.local)'),
  'TypeError: Cannot read properties of undefined (reading \'map\')\n    at runTool (/app/workflows/run-tool.ts:61:33)',
  { code: 'ECONNRESET', message: 'socket hang up 172.16.4.20:443' },
];

it.each(LEAKS.map((e, i) => [i, e]))('lets nothing of raw error %s through', (_i, err) => {
  const out = sanitizeError(err, 'ref-123');
  expect(out).toEqual({ code: 'INTERNAL', message: 'an internal error occurred (reference ref-123)', ref: 'ref-123' });
  for (const secret of ['/etc/', 'node:fs', 'SELECT', 'hunter2', 'internal.', 's3cret', '10.12.0.7', 'cluster.local', '172.16', '.ts:', 'Device']) {
    expect(out.message).not.toContain(secret);
  }
});

it('maps known codes to their fixed texts, whatever the raw message says', () => {
  expect(sanitizeError({ code: 'DEVICE_OFFLINE', message: 'host ws-12.corp.local unreachable' }, 'r')).toEqual({ code: 'DEVICE_OFFLINE', message: 'device offline', ref: 'r' });
  expect(sanitizeError({ code: 'TIMEOUT' }, 'r').message).toBe('timed out');
  expect(sanitizeError({ code: 'constructor' }, 'r').code).toBe('INTERNAL');
});
