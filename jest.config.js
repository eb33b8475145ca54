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
  // Every test file in a fresh worker process (a worker is recycled once it is over this limit after a file, so
  // always). A worker that had run many files overflowed the stack inside Prisma while a thousand agents connected
  // (workflows/remediation-long); the same file passes in a fresh process. The cause is not found yet.
  workerIdleMemoryLimit: '1MB',
  testTimeout: 120_000,
  // The workflow bundle is built once per run from the current source, instead of once per integration test file.
  globalSetup: '<rootDir>/test/jest-global-setup.ts',
  globalTeardown: '<rootDir>/test/jest-global-teardown.ts',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
