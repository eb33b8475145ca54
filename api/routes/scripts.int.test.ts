/**
 * The script library through the API, and what it means for the copilot: admins manage scripts and the
 * parameters they take; a call with parameters the admin did not allow is denied with the reason; a valid one
 * waits for its approval and runs on the device; a removed script can no longer be called.
 */
import { startTestSystem, toolCall, toolStepOf, type TestSystem } from '../../test/harness';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1 });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

it('lets admins manage scripts and their parameters, and checks every call against them', async () => {
  const acme = sys.seed.orgs.acme.slug;
  const admin = sys.keyOf('admin');
  const tech = sys.keyOf('technician');
  const path = `/v1/orgs/${acme}/scripts/restart-printer`;
  const script = {
    description: 'Restart one printer queue',
    interpreter: 'powershell',
    body: 'Restart-PrinterQueue -Name $env:GATEHOUSE_PARAM_PRINTER -Copies $env:GATEHOUSE_PARAM_COPIES',
    parameters: { printer: { type: 'string', required: true, maxLength: 40 }, copies: { type: 'integer', min: 1, max: 3 } },
  };
  expect((await sys.request('PUT', path, { key: tech, body: script })).status).toBe(404);
  const bad = await sys.request('PUT', path, { key: admin, body: { ...script, parameters: { p: { type: 'regex', pattern: '(a+)+$' } } } });
  expect(bad.status).toBe(400);
  const saved = await sys.request('PUT', path, { key: admin, body: script });
  expect(saved.status).toBe(200);
  expect(saved.body).toMatchObject({ name: 'restart-printer', bodySha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const list = await sys.request('GET', `/v1/orgs/${acme}/scripts`, { key: tech });
  expect(list.body.scripts.map((s: { name: string }) => s.name)).toContain('restart-printer');
  expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'script.created', target: 'restart-printer' } })).toBe(1);

  const [deviceId] = [...sys.simulated.values()];
  const sessionId = await sys.startSession(tech);
  const call = async (parameters: Record<string, string>) => {
    const turnId = await sys.send(sessionId, tech, toolCall('run_library_script', { device_ids: [deviceId], script: 'restart-printer', parameters }));
    return { turnId };
  };
  for (const [parameters, why] of [
    [{}, /parameter "printer" is required/],
    [{ printer: 'HP-2F', copies: '9' }, /"copies" must be between 1 and 3/],
    [{ printer: 'HP-2F', shell: 'rm -rf /' }, /takes no parameter "shell"/],
  ] as const) {
    const { turnId } = await call(parameters);
    const session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStepOf(session, turnId)).toMatchObject({ status: 'denied', summary: expect.stringMatching(why) });
  }

  const { turnId } = await call({ printer: 'HP-2F', copies: '2' });
  const approval = await sys.waitForApproval(sessionId);
  await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } });
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'run_library_script', status: 'succeeded' });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(command!.params).toMatchObject({ name: 'restart-printer', parameters: { printer: 'HP-2F', copies: '2' }, script: script.body });

  expect((await sys.request('DELETE', path, { key: admin })).status).toBe(200);
  expect((await sys.request('DELETE', path, { key: admin })).status).toBe(404);
  const after = await call({ printer: 'HP-2F' });
  const denied = await sys.waitForTurn(sessionId, tech, after.turnId);
  expect(toolStepOf(denied, after.turnId)).toMatchObject({ status: 'denied', summary: expect.stringMatching(/no script named "restart-printer"/) });
});
