// The README is the operator's reference: its configuration table must list every variable
// every app reads, with the default the code uses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allVariables } from '@agentmesh/config';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  it.each(Object.entries(allVariables()))('documents %s with its default', (name, { spec }) => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    expect(row).toBeDefined();
    const def =
      spec.defaultText ??
      (spec.default === undefined
        ? undefined
        : Array.isArray(spec.default)
          ? spec.default.join(',')
          : String(spec.default));
    if (def !== undefined) expect(row).toContain(` ${def} `);
    if (spec.required) expect(row).toContain('**required**');
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm install && npm test');
  });
});
