import { sessionEventPayload } from './session-events';

describe('sessionEventPayload', () => {
  it('keeps a short text as it is', () => {
    const payload = JSON.parse(sessionEventPayload({ sessionId: 's', turnId: 't', type: 'model:replied', text: 'disk C: 41 GB free' }));
    expect(payload.text).toBe('disk C: 41 GB free');
  });

  it('cuts a text of multi-byte characters until NOTIFY takes it (under 8000 bytes)', () => {
    const payload = sessionEventPayload({ sessionId: 's', turnId: 't', type: 'model:replied', text: '𝔊'.repeat(5000) });
    expect(Buffer.byteLength(payload, 'utf8')).toBeLessThan(8000);
    expect(JSON.parse(payload).text.length).toBeGreaterThan(0);
  });
});
