import type { StandingRule } from '../common/policy-document';
import { redecide, type RecordedCall } from '../api/services/what-if';
import { decideUnder, type DecisionInputs } from './policy-decision';

const call: DecisionInputs = {
  tool: 'manage_service',
  action: 'restart',
  service: 'Spooler',
  targetCount: 1,
  sessionDeviceCount: 1,
  tainted: false,
  provenance: null,
  devices: ['d1'],
  digest: 'a'.repeat(64),
};
const rule: StandingRule = {
  id: '00000000-0000-4000-8000-000000000001',
  tool: 'manage_service',
  action: 'restart',
  params: { device_id: 'd1', service: 'Spooler', action: 'restart' },
  devices: ['d1'],
  digest: 'a'.repeat(64),
  author: 'u1',
  approvalId: 'a1',
  createdAt: '2026-12-01T00:00:00.000Z',
  expiresAt: '2026-12-03T00:00:00.000Z',
};
const during = new Date('2026-12-02T00:00:00.000Z');
const standingOf = (v: ReturnType<typeof decideUnder>) => (v.ok ? (v.standing?.id ?? null) : 'denied');

describe('decideUnder', () => {
  it('decides the tier as resolveTier does, with the document overrides', () => {
    expect(decideUnder({ overrides: [], standing: [] }, call, during)).toMatchObject({ ok: true, tier: 3 });
    expect(decideUnder({ overrides: [{ tool: 'manage_service', action: 'restart', tier: 4 }], standing: [] }, call, during)).toMatchObject({ ok: true, tier: 4 });
  });

  it('lets the exact T3 call through a standing approval while it is in force, and nothing else', () => {
    const doc = { overrides: [], standing: [rule] };
    expect(standingOf(decideUnder(doc, call, during))).toBe(rule.id);
    expect(standingOf(decideUnder(doc, call, new Date('2026-12-03T00:00:00.000Z')))).toBeNull();
    expect(standingOf(decideUnder(doc, call, new Date('2026-11-30T00:00:00.000Z')))).toBeNull();
    expect(standingOf(decideUnder(doc, { ...call, digest: 'b'.repeat(64) }, during))).toBeNull();
    expect(standingOf(decideUnder(doc, { ...call, devices: ['d2'] }, during))).toBeNull();
    expect(standingOf(decideUnder(doc, { ...call, tainted: true }, during))).toBeNull();
    expect(standingOf(decideUnder(doc, { ...call, provenance: 'service from device output' }, during))).toBeNull();
  });

  it('never lets a T4 call through a standing approval', () => {
    const doc = { overrides: [{ tool: 'manage_service', action: 'restart', tier: 4 }], standing: [rule] };
    expect(decideUnder(doc, call, during)).toMatchObject({ ok: true, tier: 4 });
    expect(standingOf(decideUnder(doc, call, during))).toBeNull();
    expect(standingOf(decideUnder({ overrides: [], standing: [rule] }, { ...call, service: 'sshd' }, during))).toBeNull();
  });

  it("applies the document's blast-radius threshold", () => {
    const many = { ...call, targetCount: 5, devices: ['d1', 'd2', 'd3', 'd4', 'd5'] };
    expect(decideUnder({ overrides: [], standing: [] }, many, during)).toMatchObject({ ok: true, tier: 3 });
    expect(decideUnder({ overrides: [], standing: [], blastRadiusThreshold: 3 }, many, during)).toMatchObject({ ok: true, tier: 4 });
  });

  it("applies the document's taint rules, never below T3", () => {
    const read = { ...call, tool: 'get_device_info', action: null, service: null };
    const strict = { overrides: [], standing: [], taint: { flaggedContentMinTier: 4 as const, provenanceMinTier: 3 as const } };
    expect(decideUnder({ overrides: [], standing: [] }, { ...read, tainted: true }, during)).toMatchObject({ ok: true, tier: 3 });
    expect(decideUnder(strict, read, during)).toMatchObject({ ok: true, tier: 1 });
    expect(decideUnder(strict, { ...read, tainted: true }, during)).toMatchObject({ ok: true, tier: 4 });
    expect(decideUnder(strict, { ...read, provenance: 'device_id from device output' }, during)).toMatchObject({ ok: true, tier: 3 });
    const fromOutput = { ...strict, taint: { flaggedContentMinTier: 3 as const, provenanceMinTier: 4 as const } };
    expect(decideUnder(fromOutput, { ...read, provenance: 'device_id from device output' }, during)).toMatchObject({ ok: true, tier: 4 });
    // A hand-made document below T3 (the schema refuses one) still gets T3.
    const below = { overrides: [], standing: [], taint: { flaggedContentMinTier: 1, provenanceMinTier: 2 } } as unknown as typeof strict;
    expect(decideUnder(below, { ...read, tainted: true }, during)).toMatchObject({ ok: true, tier: 3 });
    expect(decideUnder(below, { ...read, provenance: 'x from device output' }, during)).toMatchObject({ ok: true, tier: 3 });
  });

  describe('an upstream MCP tool', () => {
    const upstream: DecisionInputs = { tool: 'upstream.vendor.get_forecast', action: null, service: null, targetCount: 0, sessionDeviceCount: 0, tainted: false, provenance: null, devices: [], digest: 'c'.repeat(64), upstreamTier: 2 };
    const none = { overrides: [], standing: [] };

    it('has its registered tier as the default, and the override the document gives it (action "*")', () => {
      expect(decideUnder(none, upstream, during)).toMatchObject({ ok: true, tier: 2, why: ['upstream tool: T2 as an admin assigned'] });
      expect(decideUnder({ overrides: [{ tool: upstream.tool, action: '*', tier: 3 }], standing: [] }, upstream, during)).toMatchObject({ ok: true, tier: 3, why: ['upstream tool: T2 as an admin assigned', 'org policy T3'] });
      expect(decideUnder({ overrides: [{ tool: upstream.tool, action: '*', tier: 1 }], standing: [] }, upstream, during)).toMatchObject({ ok: true, tier: 1 });
      // Another upstream tool's override, or a built-in tool's, does not apply to it.
      expect(decideUnder({ overrides: [{ tool: 'upstream.vendor.other', action: '*', tier: 4 }], standing: [] }, upstream, during)).toMatchObject({ ok: true, tier: 2 });
    });

    it('is raised to T3 after flagged content or with an argument from tool output, like any call', () => {
      expect(decideUnder(none, { ...upstream, tainted: true }, during)).toMatchObject({ ok: true, tier: 3 });
      expect(decideUnder(none, { ...upstream, provenance: 'city from tool output' }, during)).toMatchObject({ ok: true, tier: 3, why: expect.arrayContaining([expect.stringMatching(/^from tool output/)]) });
    });

    it('denies a name that is not an upstream tool name, or an invalid registered tier', () => {
      expect(decideUnder(none, { ...upstream, tool: 'upstream.Vendor!.x' }, during)).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown tool/) });
      expect(decideUnder(none, { ...upstream, upstreamTier: 7 }, during)).toMatchObject({ ok: false, reason: expect.stringMatching(/registered tier .* is invalid/) });
      // Without its registered tier it is not a catalog tool either: denied, never a default.
      expect(decideUnder(none, { ...upstream, upstreamTier: undefined }, during)).toMatchObject({ ok: false });
    });

    it('the what-if re-decides upstream calls recorded with their inputs and counts older rows without them as skipped', () => {
      const recorded = (id: string, policyInputs: unknown): RecordedCall => ({ id, sessionId: 's', turnId: 't', createdAt: during, toolName: upstream.tool, decision: 'allow', tier: 2, input: { city: 'Oslo' }, policyInputs, standingRuleId: null });
      const { results, skipped } = redecide({ overrides: [{ tool: upstream.tool, action: '*', tier: 3 }], standing: [], blastRadiusThreshold: 10 }, [recorded('new', upstream), recorded('old', null)], new Set());
      expect(skipped).toBe(1);
      expect(results.map((r) => [r.call.id, r.before, r.after])).toEqual([['new', { outcome: 'allowed', tier: 2 }, { outcome: 'approval', tier: 3 }]]);
    });
  });
});
