/**
 * run_remediation: one service action or library script on many devices (a list, a group or a site), run by the
 * `remediation` child workflow a batch at a time. Its tier is the tier of the action it runs (and of any org override
 * of that action), raised by the blast radius like any other call; one approval lists every device.
 *
 * With a `canary` (a count, or devices named among the targets), those devices run first and are checked by the
 * read-back their action declares (a service action: the service's state, read by a T1 `status` on that device; a
 * library script: the check script it declares in the library, which must exit 0, else its own run must succeed);
 * the rest waits until every canary passes. A failed canary pauses the run for an approver: continue, cancel, or
 * roll back (the action's undo on the canary devices: start and stop undo each other, a restart has none; a library
 * script's is the undo script it declares). The one
 * approval covers the canary's read-back and undo too.
 */
import { z } from 'zod';
import { ServiceName } from '../protocol';
import { TIER_OF_ITS_ACTION, CHANGES, defineTool, type CanaryRequest } from './define-tool';
import { DeviceIds } from './inputs';

const Canary = z
  .union([
    z.object({ count: z.number().int().min(1, 'canary.count must be at least 1').max(1000).describe('How many of the targets (the first ones) run first') }).strict(),
    z.object({ devices: z.array(z.string().min(1).max(200)).min(1, 'canary.devices must name at least one device').max(100).describe('Target devices (ids or names) that run first') }).strict(),
  ])
  .describe('Optional: devices that run first and must pass their check before the rest starts. Exactly one of: count, devices');

const SERVICE_UNDO = { start: 'stop', stop: 'start' } as const;

/** The read-back and undo the action declares, for a canary. */
function canaryOf(action: { type: 'service'; service: string; action: 'start' | 'stop' | 'restart' } | { type: 'library_script' }, pick: CanaryRequest['pick']): CanaryRequest {
  // A library script's check and undo are the scripts it declares in the library, looked up at authorization.
  if (action.type !== 'service') return { pick };
  const undo = action.action === 'restart' ? undefined : SERVICE_UNDO[action.action];
  return {
    pick,
    check: { kind: 'manage_service', params: { service: action.service, action: 'status' }, expect: { service: action.service, status: action.action === 'stop' ? 'Stopped' : 'Running' } },
    ...(undo ? { undo: { kind: 'manage_service' as const, params: { service: action.service, action: undo } } } : {}),
  };
}

export const runRemediation = defineTool({
  name: 'run_remediation',
  description:
    'Run one service action or library script on many devices (a list, a device group or a site), a batch at a time, stopping when failures pass a threshold. One approval lists every device.',
  input: z
    .object({
      target: z
        .union([
          z.object({ device_ids: DeviceIds }).strict(),
          z.object({ group: z.string().min(1).max(100).describe('Device group name') }).strict(),
          z.object({ site: z.string().min(1).max(100).describe('Site name') }).strict(),
        ])
        .describe('Exactly one of: device_ids, group, site'),
      action: z.discriminatedUnion('type', [
        z.object({ type: z.literal('service'), service: ServiceName, action: z.enum(['start', 'stop', 'restart']) }).strict(),
        z.object({ type: z.literal('library_script'), script: z.string().min(1).max(100), parameters: z.record(z.string().max(64), z.string().max(1000)).default({}) }).strict(),
      ]),
      batch_size: z.number().int().min(1).max(100).default(10).describe('How many devices run at once'),
      max_failures: z.number().int().min(0).max(1000).default(0).describe('Stop starting devices once more than this many have failed'),
      canary: Canary.optional(),
    })
    .strict(),
  tier: TIER_OF_ITS_ACTION,
  // The action names the tool (and its action) it runs; an org may set a tier for each of these.
  effects: ['manage_service:start', 'manage_service:stop', 'manage_service:restart', 'run_library_script'],
  action: (i) => (i.action.type === 'service' ? `manage_service:${i.action.action}` : 'run_library_script'),
  rateLimit: CHANGES,
  targets: (i) => ('device_ids' in i.target ? i.target.device_ids : []),
  // Groups and sites are resolved to their devices when the call is authorized.
  indirectTargets: (i) => ('group' in i.target ? { group: i.target.group } : 'site' in i.target ? { site: i.target.site } : undefined),
  libraryScript: (i) => (i.action.type === 'library_script' ? { name: i.action.script, parameters: i.action.parameters } : undefined),
  touches: { kind: 'service', name: (i) => (i.action.type === 'service' ? i.action.service : undefined) },
  runs: {
    remediation: (i) => ({
      ...(i.action.type === 'service'
        ? { kind: 'manage_service' as const, params: { service: i.action.service, action: i.action.action } }
        : { kind: 'run_script' as const, params: { name: i.action.script, parameters: i.action.parameters } }),
      batchSize: i.batch_size,
      maxFailures: i.max_failures,
      ...(i.canary ? { canary: canaryOf(i.action, i.canary) } : {}),
    }),
  },
});
