/**
 * Enrollment against a server that is briefly unable to answer (a 503 from a busy api or its load balancer) is
 * tried again; a refusal is final.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { enroll, insecureEnrollment } from './enroll';

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

it('refuses to enroll over plain http:// with another machine unless told to, and says why', async () => {
  // Refused before any request: nothing listens at this address.
  await expect(enroll({ server: 'http://10.255.255.1:3000', key: 'k', executor: 'linux' })).rejects.toThrow(
    /^refusing to enroll: http:\/\/10\.255\.255\.1:3000 is plain http:\/\/ to another machine: .*this device's secret.*Use https:\/\/, or pass --allow-insecure-http/,
  );
  expect(insecureEnrollment('https://gatehouse.example.com')).toBeUndefined();
  expect(insecureEnrollment('http://127.0.0.1:3000')).toBeUndefined();
  expect(insecureEnrollment('http://localhost:3000')).toBeUndefined();
  expect(insecureEnrollment('http://[::1]:3000')).toBeUndefined();
  expect(insecureEnrollment('http://api:3000')).toMatch(/plain http/);
});

it('enrolls over plain http:// with another machine when told to, with a clear warning', async () => {
  const s = await serverAnswering([201]);
  const warnings: string[] = [];
  try {
    // 0.0.0.0 is not a loopback name, yet on Linux it reaches this machine's listener.
    const server = s.url.replace('127.0.0.1', '0.0.0.0');
    const creds = await enroll({ server, key: 'k', name: 'PC-01', executor: 'simulated', allowInsecureHttp: true, warn: (m) => warnings.push(m) });
    expect(creds).toMatchObject({ name: 'PC-01' });
    expect(warnings).toEqual([expect.stringMatching(/^WARNING: enrolling although http:\/\/0\.0\.0\.0:\d+ is plain http:\/\/ to another machine/)]);
  } finally {
    s.close();
  }
});
