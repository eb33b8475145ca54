/**
 * The parameters a library script accepts, declared by an org admin with the script. Values reach the script as
 * environment variables (GATEHOUSE_PARAM_<NAME>), never spliced into its text; they are checked against these
 * declarations when the call is authorized, so the model can only fill in what the admin allowed. Kinds are
 * closed (no free-form regular expressions from the API, so no pattern can be made to backtrack).
 */
import { z } from 'zod';

const ParamName = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'a parameter name: lower-case letters, digits and _, at most 32');

export const ScriptParameter = z.discriminatedUnion('type', [
  z.object({ type: z.literal('string'), description: z.string().max(200).optional(), required: z.boolean().default(false), maxLength: z.number().int().min(1).max(1000).default(200) }).strict(),
  z.object({ type: z.literal('integer'), description: z.string().max(200).optional(), required: z.boolean().default(false), min: z.number().int().optional(), max: z.number().int().optional() }).strict(),
  z.object({ type: z.literal('enum'), description: z.string().max(200).optional(), required: z.boolean().default(false), values: z.array(z.string().min(1).max(100)).min(1).max(50) }).strict(),
  z.object({ type: z.literal('hostname'), description: z.string().max(200).optional(), required: z.boolean().default(false) }).strict(),
]);
export type ScriptParameter = z.infer<typeof ScriptParameter>;

export const ScriptParameters = z.record(ParamName, ScriptParameter).refine((p) => Object.keys(p).length <= 20, 'at most 20 parameters');
export type ScriptParameters = z.infer<typeof ScriptParameters>;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why the given values do not fit the declared parameters, or null when they do. */
export function checkScriptParameters(declared: ScriptParameters, given: Record<string, string>): string | null {
  for (const name of Object.keys(given)) if (!declared[name]) return `the script takes no parameter "${name.slice(0, 64)}"`;
  for (const [name, p] of Object.entries(declared)) {
    const value = given[name];
    if (value === undefined) {
      if (p.required) return `parameter "${name}" is required`;
      continue;
    }
    switch (p.type) {
      case 'string':
        if (value.length > p.maxLength) return `parameter "${name}" is longer than ${p.maxLength} characters`;
        break;
      case 'integer': {
        if (!/^-?\d{1,15}$/.test(value)) return `parameter "${name}" must be a whole number`;
        const n = Number(value);
        if ((p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) return `parameter "${name}" must be between ${p.min ?? '-∞'} and ${p.max ?? '∞'}`;
        break;
      }
      case 'enum':
        if (!p.values.includes(value)) return `parameter "${name}" must be one of ${p.values.join(', ')}`;
        break;
      case 'hostname':
        if (!HOSTNAME.test(value)) return `parameter "${name}" must be a host name`;
        break;
    }
  }
  return null;
}
