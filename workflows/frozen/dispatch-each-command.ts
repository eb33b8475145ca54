/**
 * How a session ran its tool call's device commands in histories recorded before `Patch.OneCommandPath`: one
 * `dispatchDeviceCommand` activity per device, which returned the command's outcome. Frozen: `runTool` takes it
 * only when replaying such a history (or finishing a session that was waiting on one when the worker was upgraded).
 */
import { deviceCommandId } from '../../common/ids';
import type { DeviceCommandPlan } from '../../common/tools';
import { device } from '../activities';

export async function dispatchEachCommand(ids: { orgId: string; invocationId: string }, plans: DeviceCommandPlan[]): Promise<string[]> {
  const commands = plans.map((c) => ({ ...c, orgId: ids.orgId, commandId: deviceCommandId(ids.invocationId, c.deviceId) }));
  await Promise.all(commands.map((c) => device.dispatchDeviceCommand(c)));
  return commands.map((c) => c.commandId);
}
