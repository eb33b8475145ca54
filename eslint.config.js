// ESLint: TypeScript rules of the house style, and the import boundaries: workflows/ and common/ may import only
// @temporalio/workflow, zod and common/ (plus type-only imports), which keeps workflows replayable; every other
// folder only what the "May import" line of its README says (tests excepted, as the READMEs say); and no import
// cycles anywhere (import-x/no-cycle; type-only imports do not count).
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importX = require('eslint-plugin-import-x');

const workflowSafe = {
  patterns: [
    {
      regex: '^(?!(@temporalio/workflow|zod|\\./(frozen/)?[\\w-]+|\\.\\./common(/[\\w-]+)?)$)',
      allowTypeImports: true,
      message: 'workflows/ and common/ may import only @temporalio/workflow, zod and common/ (type-only imports are fine).',
    },
  ],
};

// workflows/frozen/ (old branches kept for replay) is one level down: the same rule, seen from there.
const frozenWorkflowSafe = {
  patterns: [{ ...workflowSafe.patterns[0], regex: '^(?!(@temporalio/workflow|zod|\\.\\./[\\w-]+|\\.\\./\\.\\./common(/[\\w-]+)?)$)' }],
};

const FOLDERS = ['activities', 'agent', 'api', 'audit', 'bench', 'cage', 'cli', 'common', 'lib', 'offline-model', 'prisma', 'scripts', 'test', 'web', 'worker', 'workflows'];

/**
 * The zones of import-x/no-restricted-paths for a folder that may import `allowed` folders (and, of the folders
 * in `partly`, only the files listed there).
 */
function mayImport(folder, allowed, partly = {}) {
  const message = `see the "May import" line of ${folder}/README.md`;
  return FOLDERS.filter((f) => f !== folder && !allowed.includes(f)).map((f) => ({
    target: `./${folder}`,
    from: `./${f}`,
    ...(partly[f] ? { except: partly[f].map((file) => `./${file}`) } : {}),
    message,
  }));
}

const boundaries = [
  ...mayImport('activities', ['audit', 'common', 'cage', 'lib']),
  ...mayImport('agent', ['common', 'cage'], { lib: ['env.ts', 'logger.ts', 'tcp.ts', 'tracing.ts'] }),
  ...mayImport('api', ['audit', 'common', 'cage', 'lib'], { workflows: ['definitions.ts'] }),
  ...mayImport('audit', ['common', 'lib']),
  ...mayImport('cage', ['common']),
  ...mayImport('cli', ['audit', 'common', 'lib'], { cage: ['call-view.ts'], worker: ['create-worker.ts'] }),
  ...mayImport('lib', ['common']),
  ...mayImport('offline-model', [], { lib: ['env.ts', 'logger.ts'] }),
  ...mayImport('prisma', ['lib']),
  ...mayImport('worker', ['activities', 'common', 'lib'], { workflows: ['patches.ts'] }),
];

// A folder inside common/ (common/tools/) reaches the rest of common/ as `../x`.
const commonFolderSafe = {
  patterns: [{ ...workflowSafe.patterns[0], regex: '^(?!(@temporalio/workflow|zod|\\./[\\w-]+|\\.\\./[\\w-]+)$)' }],
};

module.exports = tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'web/vendor/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'read configuration through lib/env.ts' }],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX.importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  // Tests (and the test-only helpers next to them) may also use the harness and the folders their README names.
  { files: ['**/*.ts'], ignores: ['**/*.test.ts', 'test/**', 'bench/**', 'scripts/**'], rules: { 'import-x/no-restricted-paths': ['error', { zones: boundaries }] } },
  { files: ['workflows/**/*.ts', 'common/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': ['error', workflowSafe] } },
  { files: ['workflows/frozen/*.ts'], rules: { 'no-restricted-imports': ['error', frozenWorkflowSafe] } },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.name='patched'][arguments.0.type!='MemberExpression']", message: 'patch ids come from the one list in workflows/patches.ts: patched(Patch.X)' }],
    },
  },
  { files: ['common/*/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': ['error', commonFolderSafe] } },
  // The one module that reads the environment.
  { files: ['lib/env.ts'], rules: { 'no-restricted-syntax': 'off' } },
);
