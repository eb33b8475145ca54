/** Jest runs TypeScript through ts-jest in transpile-only mode; `npm test` type-checks separately with tsc. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/data/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  // Integration tests each start a Temporal dev server; two cores do not fit more than two at once.
  maxWorkers: 2,
  testTimeout: 120_000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
