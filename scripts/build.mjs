// Compiles apps/, libs/ and migrations/ to dist/ with swc (type checking is `npm run
// typecheck`). Path aliases (@agentmesh/x) are rewritten to relative requires so dist/
// runs with plain `node`. Only changed files are recompiled.
import { transformFile } from '@swc/core';
import { mkdir, readdir, stat, writeFile, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const quiet = process.argv.includes('--quiet');
const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));
const paths = Object.fromEntries(
  Object.entries(tsconfig.compilerOptions.paths).map(([k, [v]]) => [k, [join(root, v)]]),
);

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!['node_modules', 'dist', 'test'].includes(entry.name)) yield* walk(p);
    } else if (p.endsWith('.ts') && !p.endsWith('.spec.ts') && !p.endsWith('.d.ts')) {
      yield p;
    }
  }
}

const started = Date.now();
let compiled = 0;
let total = 0;
for (const top of ['apps', 'libs', 'migrations']) {
  for await (const file of walk(join(root, top))) {
    if (file.includes(`${join('libs', 'testing')}`)) continue;
    total++;
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    const [src, dst] = await Promise.all([stat(file), stat(target).catch(() => null)]);
    if (dst && dst.mtimeMs >= src.mtimeMs) continue;
    const { code, map } = await transformFile(file, {
      sourceMaps: true,
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        baseUrl: root,
        paths,
      },
      module: { type: 'commonjs' },
    });
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
    if (map) await writeFile(`${target}.map`, map);
    compiled++;
  }
}
if (!quiet || compiled > 0)
  console.log(`build: ${compiled}/${total} files compiled to dist/ in ${Date.now() - started} ms`);
