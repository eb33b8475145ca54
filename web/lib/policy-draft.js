// The org's policy as rows a person reads (one per tool, or per action where a tool's actions have tiers of their
// own), and the draft an admin edits: a copy of the org's overrides changed one row at a time, turned back into the
// document PUT and what-if take. Overrides the page does not show (a tool no longer in the catalog) stay as they are,
// so saving an edit never drops a rule nobody saw.

/** A tool whose tier is that of the action it runs (run_remediation): it has no tier of its own to set. */
const DERIVED = 'tier of its action';

/** One row per tool/action: its default tier (null where derived) and the org's value (null: the default applies). */
export function tierRows(defaults, overrides) {
  const rows = [];
  for (const [tool, value] of Object.entries(defaults)) {
    if (value && typeof value === 'object') {
      for (const [action, tier] of Object.entries(value)) rows.push(row(tool, action, tier, overrides));
    } else if (value === DERIVED) {
      rows.push({ tool, action: '*', defaultTier: null, orgTier: null, via: null, derived: true });
    } else {
      rows.push(row(tool, '*', Number(value), overrides));
    }
  }
  return rows;
}

function row(tool, action, defaultTier, overrides) {
  const exact = overrides.find((o) => o.tool === tool && o.action === action);
  // An override for every action ("*") applies to an action without one of its own, as the cage reads it.
  const every = action === '*' ? undefined : overrides.find((o) => o.tool === tool && o.action === '*');
  const o = exact ?? every;
  return { tool, action, defaultTier, orgTier: o ? o.tier : null, via: o && !exact ? '*' : null, derived: false };
}

export const rowKey = (r) => `${r.tool}:${r.action}`;
export const rowLabel = (r) => (r.action === '*' ? r.tool : `${r.tool}:${r.action}`);

/**
 * Sets one row's tier in a list of overrides (a new list; `tier` null puts the default back). A tool's override
 * for every action is first spelt out per action, so changing one action leaves the others where they were.
 */
export function setTier(overrides, rows, r, tier) {
  let next = overrides.map((o) => ({ ...o }));
  if (r.action !== '*') {
    const every = next.find((o) => o.tool === r.tool && o.action === '*');
    if (every) {
      next = next.filter((o) => o !== every);
      for (const other of rows.filter((x) => x.tool === r.tool && x.action !== '*')) {
        if (!next.some((o) => o.tool === r.tool && o.action === other.action)) next.push({ tool: r.tool, action: other.action, tier: every.tier });
      }
    }
  }
  next = next.filter((o) => !(o.tool === r.tool && o.action === r.action));
  if (tier !== null) next.push({ tool: r.tool, action: r.action, tier });
  return next;
}

/** The tier a row has in a list of overrides (its own, else its tool's "*", else the default). */
export function tierIn(overrides, r) {
  const o = overrides.find((x) => x.tool === r.tool && x.action === r.action) ?? (r.action === '*' ? undefined : overrides.find((x) => x.tool === r.tool && x.action === '*'));
  return o ? o.tier : r.defaultTier;
}

/** Overrides in a stable order, so two documents that mean the same compare equal. */
export function sortedOverrides(overrides) {
  return [...overrides].sort((a, b) => a.tool.localeCompare(b.tool) || a.action.localeCompare(b.action)).map(({ tool, action, tier }) => ({ tool, action, tier }));
}
