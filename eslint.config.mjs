// Lint rules for the whole workspace. The module-boundary rule encodes the dependency
// rules of docs/architecture.md §2: apps import libs (never each other, never `testing`),
// the leaf libs import nothing, and only `testing` may import everything.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

const lib = (name, deps) => ({ sourceTag: `scope:${name}`, onlyDependOnLibsWithTags: deps.map((d) => `scope:${d}`) });

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '.data/**', '.nx/**', 'coverage/**', 'deploy/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:lib', 'type:migrations'],
              notDependOnLibsWithTags: ['scope:testing', 'type:app'],
            },
            lib('contracts', []),
            lib('config', []),
            lib('crypto', []),
            lib('rbac', ['contracts']),
            lib('observability', ['config']),
            lib('db', ['config', 'observability']),
            lib('entities', ['db', 'contracts', 'crypto']),
            lib('bus', ['config', 'observability', 'contracts', 'db']),
            lib('llm', ['config', 'observability', 'contracts']),
            lib('migrations', ['db', 'config', 'observability', 'crypto', 'entities']),
            { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Tests, benches and scripts may print and use loose typing for fixtures.
    files: ['**/*.spec.ts', 'bench/**', 'scripts/**', 'libs/testing/**', '**/cli.ts'],
    rules: { 'no-console': 'off' },
  },
  { files: ['**/*.mjs', '**/*.js'], rules: { 'no-console': 'off' } },
];
