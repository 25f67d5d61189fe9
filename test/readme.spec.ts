// The README is the operator's reference: its configuration table must list every variable
// every app reads, with the default the code uses.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allVariables } from '@agentmesh/config';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  const rows = new Map(
    readme
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map((cells) => [cells[1], cells] as const),
  );

  it.each(Object.entries(allVariables()))('documents %s with its default', (name, { spec }) => {
    const cells = rows.get(`\`${name}\``);
    expect(cells).toBeDefined();
    const def =
      spec.defaultText ??
      (spec.default === undefined
        ? undefined
        : Array.isArray(spec.default)
          ? spec.default.join(',')
          : String(spec.default));
    expect(cells![2]).toBe(def ?? (spec.required ? '**required**' : '—'));
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm install && npm test');
  });
});
