/**
 * Enrollment against a server that is briefly unable to answer (a 503 from a busy api or its load balancer) is
 * tried again; a refusal is final.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { enroll } from './enroll';

async function serverAnswering(statuses: number[]): Promise<{ url: string; requests: () => number; close: () => void }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    const status = statuses[Math.min(n, statuses.length - 1)]!;
    n += 1;
    res.writeHead(status, { 'content-type': 'application/json' });
    const ok = { deviceId: '7d0f6c4e-2c1a-4c55-9a51-5d3f1f6f2b10', secret: 's', orgId: '0b9f1f7e-3c6d-4b8e-8f4a-1b2c3d4e5f60', name: 'PC-01', commandKey: 'key' };
    res.end(JSON.stringify(status === 201 ? ok : { error: { message: status === 401 ? 'the enrollment key is invalid' : 'busy' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => n, close: () => server.close() };
}

it('tries again after a 5xx and enrolls', async () => {
  const s = await serverAnswering([503, 201]);
  try {
    const creds = await enroll({ server: s.url, key: 'k', name: 'PC-01', executor: 'simulated' });
    expect(creds).toMatchObject({ name: 'PC-01', commandKey: 'key' });
    expect(s.requests()).toBe(2);
  } finally {
    s.close();
  }
});

it('does not try again after a refusal, and says why', async () => {
  const s = await serverAnswering([401]);
  try {
    await expect(enroll({ server: s.url, key: 'k', name: 'PC-01', executor: 'simulated' })).rejects.toThrow('enrollment refused (HTTP 401): the enrollment key is invalid');
    expect(s.requests()).toBe(1);
  } finally {
    s.close();
  }
});
