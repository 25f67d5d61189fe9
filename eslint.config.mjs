// Lint rules for the whole workspace. The module-boundary rule encodes the dependency
// rules of docs/architecture.md §2: apps import libs (never each other, never `testing`),
// the leaf libs import nothing, and only `testing` may import everything.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

const lib = (name, deps) => ({
  sourceTag: `scope:${name}`,
  onlyDependOnLibsWithTags: deps.map((d) => `scope:${d}`),
});

const libRules = [
  ['contracts', []],
  ['config', []],
  ['crypto', []],
  ['rbac', ['contracts']],
  ['observability', ['config']],
  ['db', ['config', 'observability']],
  ['entities', ['db', 'contracts', 'crypto']],
  ['bus', ['config', 'observability', 'contracts', 'db']],
  ['llm', ['config', 'observability', 'contracts']],
  ['chats', ['config', 'observability', 'contracts', 'db', 'entities', 'bus', 'crypto', 'llm']],
  ['migrations', ['db', 'config', 'observability', 'crypto', 'entities']],
];

/** The constraints; tests (and only tests) may also use the `testing` harness. */
const boundaries = (forTests) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      {
        // Direct dependencies only: libs' own tests use `testing`, which must not make every
        // app that uses those libs look like it depends on the test harness.
        sourceTag: 'type:app',
        onlyDependOnLibsWithTags: [
          'type:migrations',
          ...libRules.map(([name]) => `scope:${name}`),
          ...(forTests ? ['scope:testing'] : []),
        ],
      },
      ...libRules.map(([name, deps]) => lib(name, forTests ? [...deps, 'testing'] : deps)),
      { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['*'] },
    ],
  },
];

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '.data/**', '.nx/**', 'coverage/**', 'deploy/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
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
  {
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries(true),
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], rules: { 'no-console': 'off' } },
];
