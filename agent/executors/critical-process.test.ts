/**
 * kill_process and critical processes: killing an endpoint-security or remote-access process is stopping its
 * service, so the agent kills one only when the call named it (which the server's policy makes T4).
 */
import { createSimulatedExecutor, SimulatedMachine } from './simulated';

const machine = new SimulatedMachine('ACME-PC-01');
const defender = () => machine.processes().find((p) => p.name === 'MsMpEng.exe')!;

it('refuses to kill a critical process by pid alone', async () => {
  await expect(createSimulatedExecutor(machine).kill_process({ pid: defender().pid })).rejects.toMatchObject({
    code: 'INVALID_COMMAND',
    message: `pid ${defender().pid} is MsMpEng.exe, a critical process: the call must name it`,
  });
});

it('kills a critical process the call named, and an ordinary one by pid alone', async () => {
  await expect(createSimulatedExecutor(machine).kill_process({ pid: defender().pid, name: 'MsMpEng.exe' })).resolves.toMatchObject({ killed: true });
  const spooler = machine.processes().find((p) => p.name === 'spoolsv.exe')!;
  await expect(createSimulatedExecutor(machine).kill_process({ pid: spooler.pid })).resolves.toMatchObject({ killed: true });
});
