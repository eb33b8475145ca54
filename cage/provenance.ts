/**
 * Provenance taint: which arguments of a tool call carry a string that first appeared in what a tool brought back
 * (a service name, a path, a URL, a command line read from a device), independent of whether the detector flagged
 * anything there. Such a call must not run unattended: a detector miss could otherwise turn device text into an
 * action. Pure: the caller reads the session's outputs and messages.
 */

/** Shorter strings (ids of two letters, "on", "all") occur everywhere and say nothing about where they came from. */
export const MIN_TAINT_LENGTH = 4;

/** A text the session holds: a tool's output or a user's message, and when it arrived. */
export interface SessionText {
  at: number;
  kind: 'output' | 'user';
  /** For an output, the tool that returned it (shown to the approver). */
  tool?: string;
  text: string;
}

export interface TaintedArgument {
  /** Where in the input: `service`, `parameters.path`, `steps[0].command`. */
  path: string;
  value: string;
  /** The tool whose output held it first. */
  tool: string;
}

/** Every string of an input with its path; `skipKeys` (validated ids, free-text reasons) left out with what is below them. */
export function stringArguments(input: unknown, skipKeys: ReadonlySet<string>, path = ''): { path: string; value: string }[] {
  if (typeof input === 'string') return [{ path: path || 'input', value: input }];
  if (Array.isArray(input)) return input.flatMap((v, i) => stringArguments(v, skipKeys, `${path}[${i}]`));
  if (input !== null && typeof input === 'object') {
    return Object.entries(input).flatMap(([k, v]) => (skipKeys.has(k) ? [] : stringArguments(v, skipKeys, path ? `${path}.${k}` : k)));
  }
  return [];
}

/** A value as it appears in a text: as written, or escaped as JSON renders it (`C:\\Windows`); case does not matter. */
function occursIn(text: string, value: string): boolean {
  return text.includes(value) || text.includes(JSON.stringify(value).slice(1, -1).toLowerCase());
}

/**
 * The arguments whose value (trimmed, at least MIN_TAINT_LENGTH characters, not in `trustedValues`) occurs in a
 * tool output of the session earlier than in any message of its users: the model read it before anyone typed it.
 */
export function taintedArguments(input: unknown, texts: SessionText[], opts: { skipKeys: ReadonlySet<string>; trustedValues: ReadonlySet<string> }): TaintedArgument[] {
  const ordered = [...texts].sort((a, b) => a.at - b.at).map((t) => ({ ...t, text: t.text.toLowerCase() }));
  const out: TaintedArgument[] = [];
  for (const { path, value } of stringArguments(input, opts.skipKeys)) {
    const v = value.trim().toLowerCase();
    if (v.length < MIN_TAINT_LENGTH || opts.trustedValues.has(v)) continue;
    const first = ordered.find((t) => occursIn(t.text, v));
    if (first?.kind === 'output') out.push({ path, value: value.trim(), tool: first.tool ?? 'a tool' });
  }
  return out;
}

/** For the approver and the audit: which argument came from which tool's output. */
export function describeProvenance(tainted: TaintedArgument[]): string {
  const shown = (s: string) => (s.length > 60 ? `${s.slice(0, 28)}…${s.slice(-28)}` : s);
  return tainted.map((t) => `${t.path} "${shown(t.value)}" came from the output of ${t.tool}`).join('; ');
}
