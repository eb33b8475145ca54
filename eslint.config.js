// ESLint: TypeScript rules of the house style, and the import boundary that keeps workflows replayable:
// workflows/ and common/ may import only @temporalio/workflow, zod and common/ (plus type-only imports).
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

const workflowSafe = {
  patterns: [
    {
      regex: '^(?!(@temporalio/workflow|zod|\\./[\\w-]+|\\.\\./common(/[\\w-]+)?)$)',
      allowTypeImports: true,
      message: 'workflows/ and common/ may import only @temporalio/workflow, zod and common/ (type-only imports are fine).',
    },
  ],
};

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
  { files: ['workflows/**/*.ts', 'common/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': ['error', workflowSafe] } },
  { files: ['common/*/**/*.ts'], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': ['error', commonFolderSafe] } },
  // The one module that reads the environment.
  { files: ['lib/env.ts'], rules: { 'no-restricted-syntax': 'off' } },
);
