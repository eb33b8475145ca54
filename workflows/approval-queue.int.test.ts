/**
 * A device call's approval verified and its command queued by one step (workflows/patches.ts QueueWithApproval:
 * `verifyDecisionAndQueue`, one read and one write), end to end with real Temporal, PostgreSQL and simulated agents.
 * Every check of the two steps it replaced still holds across the seams: a decision the record does not back is
 * ignored and audited and queues nothing; a workflow the session is not known under is refused; a batch that is not
 * the approved call's is refused and audited (a batch of another call of the same session, approved too, as well: an
 * approval lets through its own call only); a breaker tripped or a pause recorded after the approval was asked
 * stops the command (refused and audited, or recorded as refused and never sent).
 */
import crypto from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { timelineOf } from '../audit/timeline';
import { FailureType } from '../common/failures';
import { deviceCommandId } from '../common/ids';
import { decodeHistory } from '../lib/history-payloads';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import { approvalDecisionSignal } from './definitions';

let sys: TestSystem;
let tech: string;
let approver: string;
let approverId: string;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 6, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000', RATE_ORG_MESSAGES_PER_HOUR: '100000' } });
  tech = sys.keyOf('technician');
  approver = sys.keyOf('approver');
  approverId = (await sys.prisma.apiKey.findFirstOrThrow({ where: { prefix: approver.split('_')[1] } })).userId;
});
afterAll(async () => {
  await sys?.stop();
});

const pc = (n: number) => sys.simulated.get(`${sys.seed.orgs.acme.slug.toUpperCase()}-PC-${String(n).padStart(2, '0')}`)!;
const decide = (id: string, body: Record<string, unknown>) => sys.request('POST', `/v1/approvals/${id}/decision`, { key: approver, body });
const commandsOf = (sessionId: string) => sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
const workflowOf = async (sessionId: string) => (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).workflowId;

/** A T3 restart asked for in a new session, waiting for its approval. */
async function waitingRestart(device: string) {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: device, service: 'Spooler', action: 'restart' }));
  const approval = await sys.waitForApproval(sessionId);
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  return { sessionId, turnId, approval, invocationId };
}

async function historyOf(sessionId: string) {
  const workflowId = await workflowOf(sessionId);
  return { workflowId, history: await decodeHistory(await sys.temporal.client.workflow.getHandle(workflowId).fetchHistory(), sys.payloadCodec) };
}

/** The local activities the run recorded, by name, in order. */
async function localSteps(sessionId: string): Promise<string[]> {
  const { history } = await historyOf(sessionId);
  return (history.events ?? []).flatMap((e) => {
    const a = e.markerRecordedEventAttributes;
    if (a?.markerName !== 'core_local_activity') return [];
    return [String((JSON.parse(Buffer.from(a.details!.data!.payloads![0]!.data!).toString()) as { activity_type: string }).activity_type)];
  });
}

it('verifies an approval and queues its command in one step; the command runs with the approved digest', async () => {
  const { sessionId, turnId, approval, invocationId } = await waitingRestart(pc(1));
  expect(await commandsOf(sessionId)).toEqual([]);
  expect((await decide(approval.id, { decision: 'approve', digest: approval.digest })).status).toBe(200);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'manage_service', status: 'succeeded' });

  const [command] = await commandsOf(sessionId);
  expect(command).toMatchObject({ id: deviceCommandId(invocationId, pc(1)), invocationId, approvalDigest: approval.digest, status: 'succeeded' });
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).recordedAt).not.toBeNull();
  // One step where there were two.
  const steps = await localSteps(sessionId);
  expect(steps).toContain('verifyDecisionAndQueue');
  expect(steps).not.toContain('verifyApprovalDecision');
  expect(steps).not.toContain('queueDeviceCommands');
  // The audit timeline still shows who approved and the command it started, with its outcome.
  const { workflowId, history } = await historyOf(sessionId);
  const timeline = timelineOf(workflowId, history);
  expect(timeline).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'approval', text: expect.stringContaining(`approval ${approval.id} approved by ${approverId} via api`) }),
      expect.objectContaining({ kind: 'command', details: expect.objectContaining({ commandId: command!.id, status: 'succeeded' }) }),
    ]),
  );
});

it('ignores and audits a decision the record does not back, queues nothing, and runs on the real one', async () => {
  const { sessionId, turnId, approval } = await waitingRestart(pc(2));
  const handle = sys.temporal.client.workflow.getHandle(await workflowOf(sessionId));
  // Nobody decided yet: a signal naming the approver is not believed.
  await handle.signal(approvalDecisionSignal, { approvalId: approval.id, decision: 'approved', approverId, channel: 'api', digest: approval.digest });
  await waitUntil(async () => (await sys.prisma.auditEvent.count({ where: { action: 'approval.signal_ignored', target: approval.id } })) === 1, 'the forged decision to be audited');
  const audited = await sys.prisma.auditEvent.findFirstOrThrow({ where: { action: 'approval.signal_ignored', target: approval.id } });
  expect(audited.data).toMatchObject({ reason: 'no recorded approved decision for this approval (it is pending)' });
  expect((await sys.request('GET', `/v1/sessions/${sessionId}`, { key: tech })).body.status).toBe('waiting_approval');
  expect(await commandsOf(sessionId)).toEqual([]);

  expect((await decide(approval.id, { decision: 'approve' })).status).toBe(200);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ status: 'succeeded' });
  expect(await commandsOf(sessionId)).toHaveLength(1);
});

it('records a rejection and queues nothing', async () => {
  const { sessionId, turnId, approval } = await waitingRestart(pc(3));
  expect((await decide(approval.id, { decision: 'reject', reason: 'not now' })).status).toBe(200);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ status: 'rejected' });
  expect(await commandsOf(sessionId)).toEqual([]);
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(await sys.prisma.toolInvocation.findUniqueOrThrow({ where: { id: invocationId } })).toMatchObject({ status: 'rejected', summary: 'not run: rejected by an approver (not now)' });
});

it('makes no command when the session\'s breaker tripped after the approval was asked: the decision is recorded, the refusal audited', async () => {
  const { sessionId, turnId, approval, invocationId } = await waitingRestart(pc(4));
  // Tripped in the database (as another call's rejection would): the workflow's own state does not know.
  await sys.prisma.copilotSession.update({ where: { id: sessionId }, data: { breakerTrippedAt: new Date() } });
  expect((await decide(approval.id, { decision: 'approve' })).status).toBe(200);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(session.turns.find((t: { turnId: string }) => t.turnId === turnId)).toMatchObject({ status: 'failed' });
  expect(await commandsOf(sessionId)).toEqual([]);
  const refused = await sys.prisma.auditEvent.findFirst({ where: { sessionId, action: 'tool.denied', data: { path: ['rule'], equals: 'breaker' } } });
  expect(refused?.data).toMatchObject({ activity: 'queueDeviceCommands' });
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).recordedAt).not.toBeNull();
  expect((await sys.prisma.toolInvocation.findUniqueOrThrow({ where: { id: invocationId } })).status).toBe('running');
});

it('records the command as refused and never sends it when the org was paused before the decision reached the workflow', async () => {
  const { sessionId, turnId, approval, invocationId } = await waitingRestart(pc(5));
  const org = sys.seed.orgs.acme.id;
  // Paused in the database only: no signal tells the workflow, the record does.
  await sys.prisma.organization.update({ where: { id: org }, data: { copilotPausedAt: new Date() } });
  try {
    expect((await decide(approval.id, { decision: 'approve' })).status).toBe(200);
    await sys.waitForTurn(sessionId, tech, turnId);
    const [command] = await commandsOf(sessionId);
    expect(command).toMatchObject({ id: deviceCommandId(invocationId, pc(5)), status: 'failed', errorCode: 'PAUSED', deliveredAt: null, startedAt: null });
    const denied = await sys.prisma.auditEvent.findFirst({ where: { orgId: org, action: 'command.denied', data: { path: ['reportTo'], equals: await workflowOf(sessionId) } } });
    expect(denied?.data).toMatchObject({ rule: 'paused', kind: 'manage_service' });
  } finally {
    await sys.prisma.organization.update({ where: { id: org }, data: { copilotPausedAt: null } });
  }
});

describe('the step called directly, as anyone who reaches Temporal could', () => {
  it('refuses a workflow the session is not known under, audits it, and writes nothing', async () => {
    const { sessionId, approval, invocationId } = await waitingRestart(pc(6));
    await sys.prisma.approval.update({ where: { id: approval.id }, data: { status: 'approved', decidedBy: approverId, decidedAt: new Date(), channel: 'api' } });
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: `copilot:${sys.seed.orgs.acme.id}:${crypto.randomUUID()}`, runId: crypto.randomUUID() }, activityId: '1' });
    const commands = [{ commandId: deviceCommandId(invocationId, pc(6)), deviceId: pc(6) }];
    await expect(
      env.run(sys.activities.verifyDecisionAndQueue, {
        signal: { approvalId: approval.id, decision: 'approved' as const, approverId, channel: 'api' as const, digest: approval.digest },
        batch: { orgId: sys.seed.orgs.acme.id, kind: 'manage_service' as const, params: { service: 'Spooler', action: 'restart' }, reportTo: 'forged', commands },
      }),
    ).rejects.toThrow(/not the session it claims to be/);
    expect(await commandsOf(sessionId)).toEqual([]);
    expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).recordedAt).toBeNull();
    const audited = await sys.prisma.auditEvent.findFirst({ where: { orgId: sys.seed.orgs.acme.id, action: 'security.session_identity_refused', data: { path: ['claimedSessionId'], equals: sessionId } } });
    expect(audited?.data).toMatchObject({ activity: 'verifyApprovalDecision' });
  });

  it('refuses a batch that is not the approved call\'s, audits it, and makes nothing of it', async () => {
    const { sessionId, approval, invocationId } = await waitingRestart(pc(1));
    await sys.prisma.approval.update({ where: { id: approval.id }, data: { status: 'approved', decidedBy: approverId, decidedAt: new Date(), channel: 'api' } });
    // The session's own workflow id, and its own approval: but a device the call does not name.
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: await workflowOf(sessionId), runId: crypto.randomUUID() }, activityId: '1' });
    const other = deviceCommandId(invocationId, pc(2));
    const verdict = await env.run(sys.activities.verifyDecisionAndQueue, {
      signal: { approvalId: approval.id, decision: 'approved' as const, approverId, channel: 'api' as const, digest: approval.digest },
      batch: { orgId: sys.seed.orgs.acme.id, kind: 'manage_service' as const, params: { service: 'Spooler', action: 'restart' }, reportTo: 'forged', commands: [{ commandId: other, deviceId: pc(2) }] },
    });
    expect(verdict).toMatchObject({ valid: true, refused: expect.stringContaining('is not part of the authorized call') });
    expect(await sys.prisma.deviceCommand.findUnique({ where: { id: other } })).toBeNull();
    const audited = await sys.prisma.auditEvent.findFirst({ where: { orgId: sys.seed.orgs.acme.id, action: 'security.command_unauthorized', target: other } });
    expect(audited?.data).toMatchObject({ rule: 'command_authority' });
  });
  it('refuses a batch of another call of the same session, approved too: an approval lets through its own call only', async () => {
    // The session's first call is approved and runs; its second waits for its own approval.
    const { sessionId, turnId, approval: first, invocationId: firstCall } = await waitingRestart(pc(3));
    expect((await decide(first.id, { decision: 'approve' })).status).toBe(200);
    await sys.waitForTurn(sessionId, tech, turnId);
    await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(4), service: 'Spooler', action: 'restart' }));
    await waitUntil(async () => (await sys.prisma.approval.count({ where: { sessionId, status: 'pending' } })) === 1, 'the second call\'s approval');
    const second = await sys.waitForApproval(sessionId);
    expect(second.id).not.toBe(first.id);
    await sys.prisma.approval.update({ where: { id: second.id }, data: { status: 'approved', decidedBy: approverId, decidedAt: new Date(), channel: 'api' } });
    const before = await commandsOf(sessionId);
    // The session's own workflow and the second call's recorded approval, with a batch naming the first call (its
    // approval stands, its device and command are in its plan): without this wall the command authority lets it through.
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: await workflowOf(sessionId), runId: crypto.randomUUID() }, activityId: '1' });
    const commandId = deviceCommandId(firstCall, pc(3));
    const verdict = await env.run(sys.activities.verifyDecisionAndQueue, {
      signal: { approvalId: second.id, decision: 'approved' as const, approverId, channel: 'api' as const, digest: second.digest },
      batch: { orgId: sys.seed.orgs.acme.id, kind: 'manage_service' as const, params: { service: 'Spooler', action: 'restart' }, reportTo: await workflowOf(sessionId), commands: [{ commandId, deviceId: pc(3) }] },
    });
    expect(verdict).toMatchObject({ valid: true, refused: expect.stringContaining('not the approved call'), refusedType: FailureType.Unauthorized });
    expect(verdict).not.toHaveProperty('queued');
    expect(await commandsOf(sessionId)).toEqual(before);
    const audited = await sys.prisma.auditEvent.findFirst({ where: { orgId: sys.seed.orgs.acme.id, sessionId, action: 'security.command_unauthorized', data: { path: ['rule'], equals: 'approval_invocation' } } });
    expect(audited).toMatchObject({ target: commandId });
    expect(audited?.data).toMatchObject({ approvalId: second.id, reason: expect.stringContaining(firstCall) });
  });
});
