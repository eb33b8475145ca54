import { lowersDefault, resolveTier } from './policy';

const q = (over: Partial<Parameters<typeof resolveTier>[0]>) => resolveTier({ tool: 'list_devices', targetCount: 0, tainted: false, overrides: [], ...over });

it('gives each tool its default tier, per action where the policy lists actions', () => {
  expect(q({ tool: 'list_devices' })).toMatchObject({ ok: true, tier: 1 });
  expect(q({ tool: 'add_device_note', targetCount: 1 })).toMatchObject({ ok: true, tier: 2 });
  expect(q({ tool: 'manage_service', action: 'status', targetCount: 1 })).toMatchObject({ ok: true, tier: 1 });
  expect(q({ tool: 'manage_service', action: 'restart', targetCount: 1 })).toMatchObject({ ok: true, tier: 3 });
  expect(q({ tool: 'execute_script', targetCount: 1 })).toMatchObject({ ok: true, tier: 4 });
});

it('denies unknown tools and unknown actions', () => {
  expect(q({ tool: 'format_disk' })).toEqual({ ok: false, reason: 'unknown tool "format_disk"' });
  expect(q({ tool: 'manage_service', action: 'delete' })).toEqual({ ok: false, reason: 'unknown action "delete" for manage_service' });
  expect(q({ tool: 'manage_service' })).toMatchObject({ ok: false });
});

it('raises a T2 or T3 call on more than 10 devices one tier, but not T1 or T4', () => {
  expect(q({ tool: 'refresh_inventory', targetCount: 10 })).toMatchObject({ tier: 2 });
  expect(q({ tool: 'refresh_inventory', targetCount: 11 })).toMatchObject({ tier: 3 });
  expect(q({ tool: 'install_updates', targetCount: 11 })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'list_devices', targetCount: 50 })).toMatchObject({ tier: 1 });
});

it('requires approval for any call once the session is tainted', () => {
  expect(q({ tool: 'list_devices', tainted: true })).toMatchObject({ ok: true, tier: 3 });
  expect(q({ tool: 'execute_script', tainted: true })).toMatchObject({ ok: true, tier: 4 });
});

it('applies org overrides, the action-specific one first', () => {
  const overrides = [
    { tool: 'manage_service', action: '*', tier: 2 },
    { tool: 'manage_service', action: 'stop', tier: 4 },
  ];
  expect(q({ tool: 'manage_service', action: 'status', overrides })).toMatchObject({ tier: 2 });
  expect(q({ tool: 'manage_service', action: 'stop', overrides })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'manage_service', action: 'stop', overrides: [{ tool: 'manage_service', action: 'stop', tier: 9 }] })).toMatchObject({ ok: false });
});

it('knows when an override lowers a default', () => {
  expect(lowersDefault('execute_script', '*', 3)).toBe(true);
  expect(lowersDefault('list_devices', '*', 2)).toBe(false);
  expect(lowersDefault('manage_service', 'restart', 2)).toBe(true);
  expect(lowersDefault('manage_service', 'status', 2)).toBe(false);
});

it('gives a remediation the tier of its action, raised by its blast radius', () => {
  expect(q({ tool: 'run_remediation', action: 'manage_service:restart', targetCount: 5 })).toMatchObject({ ok: true, tier: 3 });
  expect(q({ tool: 'run_remediation', action: 'run_library_script', targetCount: 11 })).toMatchObject({ ok: true, tier: 4 });
  expect(q({ tool: 'run_remediation', action: 'execute_script', targetCount: 1 })).toMatchObject({ ok: false });
  expect(q({ tool: 'run_remediation', action: 'run_remediation', targetCount: 1 })).toMatchObject({ ok: false });
});
