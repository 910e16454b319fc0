// ESLint: the recommended rules plus type-aware TypeScript checks for the project's own sources.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'build/', 'client-sdk/dist/', 'db/migrations/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      // Async functions that implement an async contract without awaiting are fine.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
    },
  },
  {
    // Type-level assertions compare identical types on purpose.
    files: ['db/schema/parity.ts'],
    rules: { '@typescript-eslint/no-duplicate-type-constituents': 'off', '@typescript-eslint/no-redundant-type-constituents': 'off' },
  },
  {
    // winkNLP's API passes its property readers (its.type, its.normal…) as plain functions, by design.
    files: ['server/tasks/text-analysis.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    // expect's asymmetric matchers (expect.any, expect.poll…) are typed any.
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
