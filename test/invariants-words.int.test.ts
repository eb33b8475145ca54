/**
 * The denials-audited check (test/invariants-words.ts) against real PostgreSQL: it pairs each refusal with the audit
 * event that explains it, whatever order the rows come back in, and still reports a refusal nobody audited.
 */
import crypto from 'node:crypto';
import { loadEnv } from '../lib/env';
import { createPrisma } from '../lib/prisma';
import { audit } from '../audit/log';
import { seedDemo } from '../prisma/seed-demo';
import { checkDenialsAudited } from './invariants-words';
import type { RunRecord } from './invariants';

const env = loadEnv();
const prisma = createPrisma(env.TEST_DATABASE_URL);
let orgId: string;
let otherOrgId: string;

beforeAll(async () => {
  const seed = await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') });
  orgId = seed.orgs.acme.id;
  otherOrgId = seed.orgs.globex.id;
});
afterAll(() => prisma.$disconnect());

const FORGED = 'this message was refused: it did not come through Gatehouse (no request was recorded for it), so it was not acted on';

/** A run whose turn t2 the injection screen refused and whose forged turn t3 the message check refused. */
function run(sessionId: string, startedAt: Date): RunRecord {
  return {
    startedAt,
    orgId,
    otherOrgId,
    sessionIds: [sessionId],
    messages: [],
    screenRefusedTurns: [{ sessionId, turnId: 't2' }],
    sessionRefusals: [
      { sessionId, turnId: 't2', reason: 'this message looks like a prompt injection' },
      { sessionId, turnId: 't3', reason: FORGED },
    ],
    observedDenials: [],
    wronglyAccepted: [],
    journals: [],
    modelRequests: [],
    otherOrgMarkers: [],
    actionMs: [],
    finishMs: 0,
  };
}

const forgedRefusal = (sessionId: string) =>
  audit(prisma, { orgId, actorType: 'user', actorId: crypto.randomUUID(), action: 'workflow.request_refused', target: `copilot:${orgId}:${sessionId}`, sessionId, data: { kind: 'message', requestId: null, reason: FORGED } });
const injectionRefusal = (sessionId: string) =>
  audit(prisma, { orgId, actorType: 'user', actorId: crypto.randomUUID(), action: 'injection.refused_message', target: sessionId, sessionId, data: { turnId: 't2', score: 1.8, categories: ['chat_template'] } });

it('finds the audit event of each refused turn when the one without a turn id comes back first', async () => {
  // Seed 1, run 6 of the bench: the message check's event (no turn id) was read before the screen's event for t2,
  // and t2 took it, so the forged turn t3 looked unaudited although both refusals were.
  const sessionId = crypto.randomUUID();
  const startedAt = new Date();
  await forgedRefusal(sessionId);
  await injectionRefusal(sessionId);
  expect(await checkDenialsAudited(prisma, run(sessionId, startedAt))).toEqual([]);
});

it('still reports a refused turn that has no audit event of its own', async () => {
  const sessionId = crypto.randomUUID();
  const startedAt = new Date();
  await injectionRefusal(sessionId);
  const violations = await checkDenialsAudited(prisma, run(sessionId, startedAt));
  expect(violations.map((v) => `${v.invariant} ${String(v.data?.turnId)}`)).toEqual(['denials-audited t3']);
});
