/** Jest runs TypeScript through ts-jest in transpile-only mode; `npm test` type-checks separately with tsc. */
const ESM_ONLY = 'openid-client|oauth4webapi|jose';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/data/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // openid-client 6 and its oauth4webapi and jose are ESM only, and jest's module registry cannot require ESM
    // (jestjs/jest#15716; Node itself can, which is how `npm start` loads them through tsx): these three are
    // compiled to CommonJS for the tests, like our own files.
    [`/node_modules/(${ESM_ONLY})/.+\\.js$`]: ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY})/)`],
  // Integration tests each start a Temporal dev server; two cores do not fit more than two at once.
  maxWorkers: 2,
  // jest 30 "soft-deletes" what a test file left on its globals once the file ends: every property becomes an
  // accessor whose setter calls itself (jestjs/jest#16044, unfixed in 30.5.2). Prisma writes such a global
  // (PRISMA_WASM_PANIC_REGISTRY.set_message) around every query, so every query of a client that outlived its file
  // (an api node whose shutdown overran the harness's bound, a query still in flight) failed with "Maximum call stack
  // size exceeded": the errors of remediation-long in a worker that had run many files. Proved by
  // test/outlived-client.int.test.ts.
  // Off is jest 29's behaviour; the soft mode kept every value reachable through its accessors, so it freed nothing.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  testTimeout: 120_000,
  // The workflow bundle is built once per run from the current source, instead of once per integration test file.
  globalSetup: '<rootDir>/test/jest-global-setup.ts',
  globalTeardown: '<rootDir>/test/jest-global-teardown.ts',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
