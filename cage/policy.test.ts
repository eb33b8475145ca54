import { lowersDefault, policyActions, resolveTier, terminalTier } from './policy';

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
  // An upstream MCP tool's default is its registered tier; one not registered lowers nothing (it is denied anyway).
  const registered = new Map([['upstream.vendor.get_forecast', 2]]);
  expect(lowersDefault('upstream.vendor.get_forecast', '*', 1, registered)).toBe(true);
  expect(lowersDefault('upstream.vendor.get_forecast', '*', 2, registered)).toBe(false);
  expect(lowersDefault('upstream.vendor.get_forecast', '*', 3, registered)).toBe(false);
  expect(lowersDefault('upstream.vendor.other', '*', 1, registered)).toBe(false);
});

it("raises a T2 call to T3 when the session's unapproved changes reach more than ten devices with it", () => {
  expect(q({ tool: 'refresh_inventory', targetCount: 1, sessionDeviceCount: 10 })).toMatchObject({ ok: true, tier: 2 });
  expect(q({ tool: 'refresh_inventory', targetCount: 1, sessionDeviceCount: 11 })).toMatchObject({ ok: true, tier: 3, why: expect.arrayContaining([expect.stringMatching(/changed without approval/)]) });
  // A T1 read is not a change, and a T3 call needs a human anyway.
  expect(q({ tool: 'list_devices', targetCount: 0, sessionDeviceCount: 50 })).toMatchObject({ ok: true, tier: 1 });
  expect(q({ tool: 'manage_service', action: 'restart', service: 'Spooler', targetCount: 1, sessionDeviceCount: 50 })).toMatchObject({ ok: true, tier: 3 });
});

it('gives a remediation the tier of its action, raised by its blast radius', () => {
  expect(q({ tool: 'run_remediation', action: 'manage_service:restart', targetCount: 5 })).toMatchObject({ ok: true, tier: 3 });
  expect(q({ tool: 'run_remediation', action: 'run_library_script', targetCount: 11 })).toMatchObject({ ok: true, tier: 4 });
  expect(q({ tool: 'run_remediation', action: 'execute_script', targetCount: 1 })).toMatchObject({ ok: false });
  expect(q({ tool: 'run_remediation', action: 'run_remediation', targetCount: 1 })).toMatchObject({ ok: false });
});

describe('a tier override applies to the effect, whichever tool reaches it', () => {
  const remediation = (action: string, overrides: { tool: string; action: string; tier: number }[], targetCount = 5) =>
    q({ tool: 'run_remediation', action, targetCount, overrides });

  it('keeps a library script raised to T4 at T4 when it runs through run_remediation on a few devices', () => {
    const overrides = [{ tool: 'run_library_script', action: '*', tier: 4 }];
    expect(q({ tool: 'run_library_script', targetCount: 1, overrides })).toMatchObject({ tier: 4 });
    expect(remediation('run_library_script', overrides, 1)).toMatchObject({ ok: true, tier: 4 });
  });

  it('keeps a service restart raised to T4 at T4 through run_remediation, and leaves the other actions alone', () => {
    const overrides = [{ tool: 'manage_service', action: 'restart', tier: 4 }];
    expect(remediation('manage_service:restart', overrides)).toMatchObject({ tier: 4 });
    expect(remediation('manage_service:stop', overrides)).toMatchObject({ tier: 3 });
    expect(remediation('manage_service:stop', [{ tool: 'manage_service', action: '*', tier: 4 }])).toMatchObject({ tier: 4 });
  });

  it('takes the stricter of run_remediation’s own override and its action’s', () => {
    expect(remediation('run_library_script', [{ tool: 'run_remediation', action: 'run_library_script', tier: 4 }])).toMatchObject({ tier: 4 });
    expect(remediation('manage_service:restart', [{ tool: 'run_remediation', action: '*', tier: 4 }])).toMatchObject({ tier: 4 });
    // An own override below the action's tier does not open a cheaper door to the same effect.
    const lowered = [
      { tool: 'run_remediation', action: '*', tier: 2 },
      { tool: 'run_library_script', action: '*', tier: 4 },
    ];
    expect(remediation('run_library_script', lowered)).toMatchObject({ tier: 4 });
    expect(remediation('manage_service:restart', [{ tool: 'run_remediation', action: '*', tier: 2 }])).toMatchObject({ tier: 3 });
  });

  it('still raises the effect’s tier by the blast radius, and denies when the effect’s override is damaged', () => {
    expect(remediation('manage_service:restart', [{ tool: 'manage_service', action: 'restart', tier: 2 }], 11)).toMatchObject({ tier: 3 });
    expect(remediation('run_library_script', [{ tool: 'run_library_script', action: '*', tier: 7 }])).toMatchObject({ ok: false });
  });
});

describe('critical services', () => {
  const service = (tool: 'manage_service' | 'run_remediation', name: string, action: string, overrides: { tool: string; action: string; tier: number }[] = []) =>
    q({ tool, action: tool === 'run_remediation' ? `manage_service:${action}` : action, service: name, targetCount: 1, overrides });

  it.each(['sshd', 'ssh.service', 'SSHD', 'gatehouse-agent', 'WinDefend', 'windefend', 'Sense', 'MsMpSvc', 'CSFalconService', 'SentinelAgent', 'falcon-sensor', 'sshd@22-10.0.0.5.service'])(
    'makes stopping or restarting %s T4, through manage_service and through run_remediation',
    (name) => {
      expect(service('manage_service', name, 'stop')).toMatchObject({ ok: true, tier: 4 });
      expect(service('manage_service', name, 'restart')).toMatchObject({ ok: true, tier: 4 });
      expect(service('run_remediation', name, 'stop')).toMatchObject({ ok: true, tier: 4 });
    },
  );

  it('leaves reading and starting a critical service, and changing an ordinary one, at their tiers', () => {
    expect(service('manage_service', 'sshd', 'status')).toMatchObject({ tier: 1 });
    expect(service('manage_service', 'sshd', 'start')).toMatchObject({ tier: 3 });
    expect(service('manage_service', 'Spooler', 'restart')).toMatchObject({ tier: 3 });
    expect(service('run_remediation', 'Spooler', 'restart')).toMatchObject({ tier: 3 });
  });

  it('keeps a critical service at T4 even where the org lowered service changes', () => {
    expect(service('manage_service', 'WinDefend', 'stop', [{ tool: 'manage_service', action: '*', tier: 2 }])).toMatchObject({ tier: 4 });
  });
});

it('lists the actions an org may set a tier for, per tool', () => {
  expect(policyActions('list_devices')).toEqual([]);
  expect(policyActions('manage_service')).toEqual(['status', 'start', 'stop', 'restart']);
  expect(policyActions('run_remediation')).toEqual(['manage_service:start', 'manage_service:stop', 'manage_service:restart', 'run_library_script']);
  for (const action of policyActions('run_remediation')) expect(q({ tool: 'run_remediation', action, targetCount: 1 })).toMatchObject({ ok: true });
});

it('makes killing a named critical process T4, like stopping its service', () => {
  expect(q({ tool: 'kill_process', service: 'MsMpEng.exe', targetCount: 1 })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'kill_process', service: 'sshd', targetCount: 1 })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'kill_process', service: 'notepad.exe', targetCount: 1 })).toMatchObject({ tier: 3 });
  expect(q({ tool: 'kill_process', targetCount: 1 })).toMatchObject({ tier: 3 });
});

it('applies an override of a run_remediation action to the tool that performs that action directly', () => {
  const overrides = [
    { tool: 'run_remediation', action: 'manage_service:restart', tier: 4 },
    { tool: 'run_remediation', action: 'run_library_script', tier: 4 },
  ];
  expect(q({ tool: 'manage_service', action: 'restart', targetCount: 1, overrides })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'run_library_script', targetCount: 1, overrides })).toMatchObject({ tier: 4 });
  expect(q({ tool: 'manage_service', action: 'stop', targetCount: 1, overrides })).toMatchObject({ tier: 3 });
  // A "*" override is about remediations as such, not about one effect.
  expect(q({ tool: 'manage_service', action: 'restart', targetCount: 1, overrides: [{ tool: 'run_remediation', action: '*', tier: 4 }] })).toMatchObject({ tier: 3 });
});

describe('the tier of opening a terminal', () => {
  it('is T4 by default, T3 when the org says so, and never below T3', () => {
    expect(terminalTier([])).toBe(4);
    expect(terminalTier([{ tool: 'open_terminal', action: '*', tier: 3 }])).toBe(3);
    expect(terminalTier([{ tool: 'open_terminal', action: '*', tier: 1 }])).toBe(3);
    expect(terminalTier([{ tool: 'open_terminal', action: '*', tier: 9 }])).toBe(4);
    expect(lowersDefault('open_terminal', '*', 3)).toBe(true);
  });
});
