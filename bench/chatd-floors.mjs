// Re-runs the three bench floors the chatd benchmarks compare with (shared/bench-floors:
// pickup.js, pg_acquire.js, pg_heartbeat.js), with short settings, so that ratios use floors
// measured in the same session; writes their result lines to bench/results/chatd-floors.json.
// Needs the floors' packages installed in FLOORS_DIR (outside the repository):
//   export FLOORS_DIR=/tmp/floors && mkdir -p $FLOORS_DIR
//   cp ../shared/bench-floors/package.json $FLOORS_DIR/ && (cd $FLOORS_DIR && npm install --no-audit --no-fund)
// The `floors` database is created if missing. Usage: FLOORS_DIR=… node bench/chatd-floors.mjs
// (env: BENCH_FLOORS_SRC, default ../shared/bench-floors; FLOORS=pickup,acquire,heartbeat)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_URL, pgClient, root, writeResult } from './chatd-common.mjs';

const src = resolve(process.env.BENCH_FLOORS_SRC ?? join(root, '../shared/bench-floors'));
const floorsDir = process.env.FLOORS_DIR;
if (!floorsDir || !existsSync(join(floorsDir, 'node_modules/pg'))) {
  console.error('FLOORS_DIR must point at a directory where shared/bench-floors/package.json is installed');
  process.exit(2);
}
const only = (process.env.FLOORS ?? 'pickup,acquire,heartbeat').split(',');

// The commands (and settings) the chatd results are compared with.
const COMMANDS = {
  pickup: { script: 'pickup.js', env: { RUNS: '3', N: '300', RATE: '50', MODES: 'nats,poll' } },
  acquire: {
    script: 'pg_acquire.js',
    env: { RUNS: '3', MAX_S: '10', BATCHES: '10', DONE: 'each,none', LANES: '1' },
  },
  heartbeat: { script: 'pg_heartbeat.js', env: { RUNS: '3', N: '20', IDS: '10000' } },
};

const admin = await pgClient(ADMIN_URL);
const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'floors'`);
if (exists.rowCount === 0) await admin.query('CREATE DATABASE floors');
await admin.end();

const results = {};
for (const key of only) {
  const { script, env } = COMMANDS[key];
  const command = `${Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} node ${script}`;
  console.error(`floor: ${command}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(src, script)], {
    cwd: src,
    env: { ...process.env, ...env, FLOORS_DIR: floorsDir },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${script} failed with ${r.status}`);
  results[key] = {
    command,
    seconds: Math.round((Date.now() - started) / 1000),
    lines: r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l)),
  };
}
await writeResult('chatd-floors', { source: src, results });
