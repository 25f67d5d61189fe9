// Prints the README's configuration table from the config schemas (test/readme.spec.ts
// checks the README against the same schemas). Usage: npm run docs:config-table
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], { stdio: ['ignore', 2, 2] });
const { allVariables, ALL_APPS } = createRequire(import.meta.url)(join(root, 'dist/libs/config/src'));

const defaultText = (spec) =>
  spec.defaultText ??
  (spec.default === undefined
    ? spec.required
      ? '**required**'
      : '—'
    : Array.isArray(spec.default)
      ? spec.default.join(',')
      : String(spec.default));

const rows = Object.entries(allVariables()).map(([name, { spec, apps }]) => {
  const who = apps.size === ALL_APPS.length ? 'all' : [...apps].join(', ');
  return `| \`${name}\` | ${defaultText(spec)} | ${who} | ${spec.description}${spec.secret ? ' (secret)' : ''} |`;
});
console.log(['| variable | default | apps | meaning |', '|---|---|---|---|', ...rows].join('\n'));
