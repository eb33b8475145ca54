/**
 * Commands and agents that come and go (real agent processes): a command for an offline device waits for it and,
 * past its TTL, never runs, and the session is told the device is offline; a rebooting device drops off and comes
 * back, and its journal shows the reboot command started once; commands not signed by this server never run.
 */
import net, { type AddressInfo } from 'node:net';
import { CommandJournal } from '../agent/journal';
import { generateSigningKeyPem, loadSigningKey, signCommand } from '../cage/command-signing';
import { PROTOCOL_VERSION } from '../common/protocol';
import { commandMadeByTest, startTestSystem, waitUntil, toolCall, toolStepOf, type TestSystem } from '../test/harness';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ agent: true, simulated: 1, env: { COMMAND_TTL_SECONDS: '5', DISCOVERY_ALLOW_LOOPBACK: 'true' } });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

it('never runs a command whose TTL passed while the device was offline, and says the device is offline', async () => {
  const tech = sys.keyOf('technician');
  const agent = sys.agent!;
  await agent.stop();
  const sessionId = await sys.startSession(tech);
  // Asked to wait for the device (a read otherwise answers at once from what is known: workflows/offline-device).
  const turnId = await sys.send(sessionId, tech, toolCall('get_device_info', { device_id: agent.deviceId, wait_for_device: true }));
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ status: 'failed', summary: expect.stringMatching(/offline/i) });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(command).toMatchObject({ status: 'expired', errorCode: 'DEVICE_OFFLINE' });

  // The agent comes back: the expired command is not delivered and never runs.
  agent.start();
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to reconnect');
  await new Promise((r) => setTimeout(r, 1500));
  expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(command!.id)).toBeUndefined();
  expect((await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: command!.id } })).status).toBe('expired');
});

it('runs a reboot once: the device reports, drops off for the reboot, comes back, and its journal shows one start', async () => {
  const tech = sys.keyOf('technician');
  const [name, deviceId] = [...sys.simulated][0]!;
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('restart_device', { device_id: deviceId }));
  const approval = await sys.waitForApproval(sessionId);
  await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', confirmation: approval.confirmationPhrase } });
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId! } })).online === false, 'the device to drop off while it reboots');
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'restart_device', status: 'succeeded' });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(CommandJournal.startsIn(sys.journalOf(name!)).get(command!.id)).toBe(1);
});

it('refuses commands that are not signed by this server, without running them', async () => {
  const agent = sys.agent!;
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to be online');
  const socket = [...sys.api.io.of('/agents').sockets.values()].find((s) => s.data.deviceId === agent.deviceId)!;
  const replies: { commandId: string; error?: { code: string; message: string } }[] = [];
  socket.on('command:result', (result: (typeof replies)[number]) => void replies.push(result));

  const base = {
    v: PROTOCOL_VERSION,
    kind: 'system_info' as const,
    params: {},
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    timeoutSeconds: 30,
    approvalDigest: null,
  };
  // Signed by another key (over exactly this command and device), and a garbage signature.
  const stranger = loadSigningKey(generateSigningKeyPem());
  const otherKeyId = `forged-otherkey-${Date.now()}`;
  const forged = [
    { ...base, commandId: `forged-garbage-${Date.now()}`, signature: 'AAAA' },
    { ...base, commandId: otherKeyId, signature: signCommand(stranger, { ...base, commandId: otherKeyId, deviceId: agent.deviceId }) },
  ];
  for (const cmd of forged) socket.emit('command:dispatch', cmd);
  await waitUntil(async () => replies.length >= forged.length, 'the agent to answer the forged commands');
  for (const cmd of forged) {
    expect(replies.find((r) => r.commandId === cmd.commandId)?.error).toMatchObject({ code: 'BAD_SIGNATURE' });
    expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(cmd.commandId)).toBeUndefined();
  }
});

it('returns a loopback discovery scan through the command-result path, stores it for the org, and reads it back with a T1 tool', async () => {
  const listener = net.createServer((c) => c.end());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const { port } = listener.address() as AddressInfo;
  try {
    const tech = sys.keyOf('technician');
    const agent = sys.agent!;
    await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to be online');
    const sessionId = await sys.startSession(tech);
    let turnId = await sys.send(sessionId, tech, toolCall('network_discovery', { device_id: agent.deviceId, cidr: '127.0.0.1/32', ports: [port, 1] }));
    let session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
    expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'network_discovery', status: 'succeeded', summary: expect.stringMatching(/1 hosts with open ports in 127\.0\.0\.1\/32/) });
    const scan = await sys.prisma.networkScan.findFirstOrThrow({ where: { orgId: sys.seed.orgs.acme.id, cidr: '127.0.0.1/32' }, orderBy: { scannedAt: 'desc' } });
    expect(scan.hosts).toEqual([{ address: '127.0.0.1', openPorts: [port] }]);

    turnId = await sys.send(sessionId, tech, toolCall('list_discovered_hosts', { cidr: '127.0.0.1/32' }));
    session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'list_discovered_hosts', tier: 1, status: 'succeeded', summary: '1 hosts with open ports in 1 scanned range(s)' });

    // Another org's technician sees none of it.
    const globex = await sys.request('POST', '/v1/sessions', { key: sys.keyOf('technician', 'globex'), body: { org: sys.seed.orgs.globex.slug } });
    turnId = await sys.send(globex.body.id, sys.keyOf('technician', 'globex'), toolCall('list_discovered_hosts', {}));
    session = await sys.waitForTurn(globex.body.id, sys.keyOf('technician', 'globex'), turnId);
    expect(toolStepOf(session, turnId)).toMatchObject({ status: 'succeeded', summary: 'no network discovery scan yet' });

    // Outside loopback, public ranges stay refused.
    turnId = await sys.send(sessionId, tech, toolCall('network_discovery', { device_id: agent.deviceId, cidr: '8.8.8.0/30' }));
    session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStepOf(session, turnId)).toMatchObject({ status: 'denied', summary: expect.stringMatching(/not a private range/) });
  } finally {
    listener.close();
  }
});

it('sends a pending command whose announcement was lost (no NOTIFY) on the next sweep', async () => {
  const agent = sys.agent!;
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to be online');
  const id = `lost-notify-${Date.now()}:${agent.deviceId}`;
  // Written as the dispatch activity writes it, but never announced (as if its worker died in between).
  await sys.prisma.deviceCommand.create({
    data: { id, ...commandMadeByTest(id, agent.deviceId), orgId: sys.seed.orgs.acme.id, deviceId: agent.deviceId, kind: 'system_info', params: {}, status: 'pending', expiresAt: new Date(Date.now() + 60_000) },
  });
  await waitUntil(async () => (await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id } })).status === 'succeeded', 'the sweep to deliver the command', 20_000);
  expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(id)).toBe(1);
});

it('refuses a T3/T4 kind of command that carries no approval digest, even signed by this server, without running it', async () => {
  const agent = sys.agent!;
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to be online');
  // A row no approval stands behind (as a bug or a tampered database would leave one): the gateway signs what it
  // sends, so only the agent's own check stands between it and the device.
  const unapproved = `no-approval-${Date.now()}:${agent.deviceId}`;
  const read = `read-no-approval-${Date.now()}:${agent.deviceId}`;
  for (const [id, kind, params] of [
    [unapproved, 'kill_process', { pid: 4_000_000 }],
    [read, 'system_info', {}],
  ] as const) {
    await sys.prisma.deviceCommand.create({ data: { id, ...commandMadeByTest(id, agent.deviceId), orgId: sys.seed.orgs.acme.id, deviceId: agent.deviceId, kind, params, status: 'pending', expiresAt: new Date(Date.now() + 60_000) } });
  }
  const settled = async (id: string) => ['succeeded', 'failed'].includes((await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id } })).status);
  await waitUntil(async () => (await settled(unapproved)) && (await settled(read)), 'the agent to answer both commands', 20_000);

  expect(await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: unapproved } })).toMatchObject({ status: 'failed', errorCode: 'APPROVAL_MISSING' });
  expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(unapproved)).toBeUndefined();
  expect(await sys.prisma.auditEvent.findFirst({ where: { action: 'security.command_refused_by_agent', target: unapproved } })).toMatchObject({ data: { code: 'APPROVAL_MISSING' } });
  // A read needs no approval and runs.
  expect(await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: read } })).toMatchObject({ status: 'succeeded' });
});

it('does not call a script timed out while it is still running past the command TTL: its result completes the step', async () => {
  const tech = sys.keyOf('technician');
  const agent = sys.agent!;
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to be online');
  const sessionId = await sys.startSession(tech);
  // Runs 8 s: longer than the command TTL here (5 s), well within its own timeout and the dispatch timeout.
  const turnId = await sys.send(sessionId, tech, toolCall('execute_script', { device_id: agent.deviceId, interpreter: 'bash', script: 'sleep 8; echo finished', timeout_seconds: 30 }));
  const approval = await sys.waitForApproval(sessionId);
  await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', confirmation: approval.confirmationPhrase } });
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'execute_script', status: 'succeeded', summary: expect.stringContaining('script exited with code 0') });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(command).toMatchObject({ status: 'succeeded', errorCode: null });
});
