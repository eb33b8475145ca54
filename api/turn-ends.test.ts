import { TurnEnds } from './turn-ends';

const session = '5f0c6f4e-8d53-4a8e-9d7e-2d1f0c3b9a11';
const ended = (turnId: string, sessionId = session) => ({ sessionId, turnId, type: 'turn:ended' as const, status: 'answered' });
const settled = async (p: Promise<void>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);

test("a listener hears its own turn's end, and only that", async () => {
  const ends = new TurnEnds();
  const t2 = ends.listen(session, 't2');
  ends.told(ended('t1'));
  ends.told(ended('t2', '0e7c1a52-6a0f-4f4a-b1f2-7a9c2e5d8b30'));
  ends.told({ ...ended('t2'), type: 'model:replied' } as never);
  expect(await settled(t2.heard)).toBe(false);
  ends.told(ended('t2'));
  expect(await settled(t2.heard)).toBe(true);
  t2.stop();
});

test('an end told before anyone listens is not heard; a stopped listener is forgotten', async () => {
  const ends = new TurnEnds();
  ends.told(ended('t3'));
  const late = ends.listen(session, 't3');
  expect(await settled(late.heard)).toBe(false);
  late.stop();
  ends.told(ended('t3'));
  expect(await settled(late.heard)).toBe(false);
});
