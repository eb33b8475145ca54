import { hashesEqual, issueSecret, secretPrefix, sha256 } from './secrets';

it('issues keys whose prefix can be found and whose hash verifies', () => {
  const key = issueSecret('gh');
  expect(secretPrefix(key.plain)).toBe(key.prefix);
  expect(hashesEqual(key.hash, sha256(key.plain))).toBe(true);
  expect(hashesEqual(key.hash, sha256(`${key.plain}x`))).toBe(false);
  expect(key.plain).not.toContain(key.hash);
});

it('treats malformed keys as having no prefix', () => {
  expect(secretPrefix('')).toBeNull();
  expect(secretPrefix('gh_short_x')).toBeNull();
  expect(secretPrefix(`gh_${'z'.repeat(12)}_${'a'.repeat(43)}`)).toBeNull();
});
