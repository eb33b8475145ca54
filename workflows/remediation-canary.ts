/**
 * The canary stage of a `remediation` (./remediation.ts): which devices go first, their read-back, and the canary
 * steps' commands (read-back, undo). Those are commands of the same approved call on the one command path
 * (`queueDeviceCommands`, checked by the command authority against the call's canary plan), under ids of their own
 * so that they never count as the run's devices.
 */
import { condition } from '@temporalio/workflow';
import { canaryCommandId, type CanaryStep } from '../common/ids';
import type { CommandKind } from '../common/protocol';
import type { CanaryPlan } from '../common/tools';
import { local } from './activities';
import type { CommandHints } from './command-hints';
import type { RemediationProgress } from './definitions';
import { readHintedOutcomes, readKeptHints } from './device-commands';

/** Puts the canary devices first in `queue` (in its order) and returns the others, held back until they pass. */
export function holdBackForCanary(progress: RemediationProgress, queue: string[], canary: CanaryPlan): string[] {
  const first = new Set(canary.devices);
  const held = queue.filter((d) => !first.has(d));
  queue.splice(0, queue.length, ...queue.filter((d) => first.has(d)));
  progress.canary = { devices: [...queue], state: 'running', failures: [], canRollBack: canary.undo !== undefined };
  return held;
}

/** Starts the canary stage: its devices run first (returned, in the plan's order); the others wait for the verdict. */
export function startCanaryStage(progress: RemediationProgress, canary: CanaryPlan): string[] {
  progress.canary = { devices: [...canary.devices], state: 'running', failures: [], canRollBack: canary.undo !== undefined };
  return [...canary.devices];
}

export interface CanaryContext {
  orgId: string;
  invocationId: string;
  reportTo: string;
  hints: CommandHints;
  /** The step commands being waited for (the hints accept their results), by command id. */
  stepsRunning: Map<string, string>;
  /** `Patch.HintsReadWhenIdle`: a hint counts only while its command is still awaited (./remediation.ts says why). */
  readHintsWhenIdle?: boolean;
}

/** Runs one canary step's command on `devices` and waits for each outcome; returns them by device. */
export async function runCanarySteps(ctx: CanaryContext, step: CanaryStep, command: { kind: CommandKind; params: Record<string, unknown> }, devices: string[]): Promise<Record<string, string>> {
  const outcomes: Record<string, string> = {};
  if (devices.length === 0) return outcomes;
  const commands = devices.map((deviceId) => ({ commandId: canaryCommandId(ctx.invocationId, step, deviceId), deviceId }));
  for (const c of commands) ctx.stepsRunning.set(c.commandId, c.deviceId);
  const settle = (list: { commandId: string; status: string }[]) => {
    for (const o of list) {
      const deviceId = ctx.stepsRunning.get(o.commandId);
      if (deviceId === undefined) continue;
      ctx.stepsRunning.delete(o.commandId);
      outcomes[deviceId] = o.status;
    }
  };
  const { settled } = await local.queueDeviceCommands({ orgId: ctx.orgId, kind: command.kind, params: command.params, reportTo: ctx.reportTo, commands });
  settle(settled);
  while (commands.some((c) => ctx.stepsRunning.has(c.commandId))) {
    await condition(() => (ctx.readHintsWhenIdle ? ctx.hints.pending() : ctx.hints.size) > 0);
    // Since the patch the hints stay until their commands are settled, as in the remediation's loop.
    settle(await (ctx.readHintsWhenIdle ? readKeptHints : readHintedOutcomes)(ctx.orgId, ctx.invocationId, ctx.hints));
  }
  return outcomes;
}

/**
 * The canaries' verdict: the action must have succeeded on each, and the read-back the action declares (run now
 * on those where it did) must show its effect. Returns the failures, each with a reason a person can act on.
 */
export async function verifyCanary(
  ctx: Omit<CanaryContext, 'hints' | 'stepsRunning'> & { progress: RemediationProgress; canary: CanaryPlan },
  runSteps: (step: CanaryStep, command: { kind: CommandKind; params: Record<string, unknown> }, devices: string[]) => Promise<Record<string, string>>,
): Promise<{ deviceId: string; reason: string }[]> {
  const stage = ctx.progress.canary!;
  stage.state = 'verifying';
  const ran = stage.devices.filter((d) => ctx.progress.devices[d] === 'succeeded');
  if (ctx.canary.check) await runSteps('check', ctx.canary.check, ran);
  const { checks } = await local.readCanaryChecks({ orgId: ctx.orgId, reportTo: ctx.reportTo, invocationId: ctx.invocationId, devices: stage.devices, expect: ctx.canary.check?.expect });
  return checks.flatMap((c) => (c.passed ? [] : [{ deviceId: c.deviceId, reason: c.reason ?? 'the check failed' }]));
}
