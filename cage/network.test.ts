import { checkDiscoveryRange } from './network';

it('allows private ranges up to a /22', () => {
  expect(checkDiscoveryRange('192.168.1.0/24')).toEqual({ ok: true });
  expect(checkDiscoveryRange('10.20.0.0/22')).toEqual({ ok: true });
  expect(checkDiscoveryRange('172.16.5.0/28')).toEqual({ ok: true });
});

it('refuses public, too large and malformed ranges', () => {
  expect(checkDiscoveryRange('8.8.8.0/24')).toMatchObject({ ok: false, reason: expect.stringContaining('not a private range') });
  expect(checkDiscoveryRange('10.0.0.0/16')).toMatchObject({ ok: false, reason: expect.stringContaining('larger than a /22') });
  expect(checkDiscoveryRange('127.0.0.0/24')).toMatchObject({ ok: false });
  expect(checkDiscoveryRange('300.1.1.1/24')).toMatchObject({ ok: false });
});

it('allows the loopback range only when asked to (tests on one machine)', () => {
  expect(checkDiscoveryRange('127.0.0.1/32')).toMatchObject({ ok: false });
  expect(checkDiscoveryRange('127.0.0.1/32', { allowLoopback: true })).toEqual({ ok: true });
  expect(checkDiscoveryRange('8.8.8.0/30', { allowLoopback: true })).toMatchObject({ ok: false });
});
