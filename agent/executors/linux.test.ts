import os from 'node:os';
import { CommandOutput } from '../../common/protocol';
import { createLinuxExecutor } from './linux';

it('reads this machine: hostname, uptime, CPU, memory and disks', async () => {
  const info = CommandOutput.system_info.parse(await createLinuxExecutor().system_info({}));
  expect(info.hostname).toBe(os.hostname());
  expect(info.cpu.cores).toBe(os.cpus().length);
  expect(info.uptimeSeconds).toBeGreaterThan(0);
  expect(info.memory.totalBytes).toBe(os.totalmem());
  expect(info.disks.some((d) => d.mount === '/')).toBe(true);
});

it('lists real processes, including this one, capped at the limit', async () => {
  const all = CommandOutput.list_processes.parse(await createLinuxExecutor().list_processes({ sortBy: 'memory', limit: 500 }));
  expect(all.processes.some((p) => p.pid === process.pid)).toBe(true);
  const top = CommandOutput.list_processes.parse(await createLinuxExecutor().list_processes({ sortBy: 'memory', limit: 3 }));
  // Processes come and go between two reads; the cap and the order are what must hold.
  expect(top.processes).toHaveLength(3);
  expect(top.total).toBeGreaterThan(3);
  expect(top.processes[0]!.memoryBytes).toBeGreaterThanOrEqual(top.processes[1]!.memoryBytes);
  expect(top.processes[1]!.memoryBytes).toBeGreaterThanOrEqual(top.processes[2]!.memoryBytes);
});

it('refuses unknown parameters', async () => {
  await expect(createLinuxExecutor().list_processes({ sortBy: 'cpu', limit: 5, command: 'rm' })).rejects.toThrow();
});
