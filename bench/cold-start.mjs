// Cold start of each app: wall time from spawning `node dist/apps/<app>/src/main.js` to the
// first 200 from /readyz (config validated, Postgres + NATS connected, streams provisioned,
// schema checked). Runs each app N times against a freshly migrated database and prints the
// median and max, and writes bench/results/cold-start.json. Usage: node bench/cold-start.mjs [runs=5]
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);
const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const nats = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const dbName = `am_bench_cold_${process.pid}`;
const dbUrl = Object.assign(new URL(admin), { pathname: `/${dbName}` }).toString();
const APPS = ['chat-api', 'chatd-worker', 'aibridge-recorder', 'telemetry-collector', 'dbpurge'];

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

async function adminQuery(sql) {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function once(app) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    DATABASE_URL: dbUrl,
    NATS_URL: nats,
    NATS_SUBJECT_PREFIX: `bench${process.pid}`,
    LOG_LEVEL: 'warn',
    HTTP_HOST: '127.0.0.1',
    HEALTH_HOST: '127.0.0.1',
    [app === 'chat-api' ? 'HTTP_PORT' : 'HEALTH_PORT']: String(port),
  };
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist/apps', app, 'src/main.js')], {
    env,
    stdio: 'ignore',
  });
  try {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 60_000) throw new Error(`${app} not ready after 60 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], { stdio: ['ignore', 2, 2] });
await adminQuery(`CREATE DATABASE "${dbName}"`);
try {
  const m = spawnSync(process.execPath, [join(root, 'dist/migrations/cli.js'), 'migrate'], {
    env: { ...process.env, DATABASE_URL: dbUrl },
  });
  if (m.status !== 0) throw new Error(String(m.stderr));
  const results = {};
  for (const app of APPS) {
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await once(app));
    times.sort((a, b) => a - b);
    results[app] = {
      median_ms: Math.round(times[Math.floor(times.length / 2)]),
      max_ms: Math.round(times[times.length - 1]),
      runs,
    };
  }
  const report = JSON.stringify({ bench: 'cold-start', at: new Date().toISOString(), results }, null, 2);
  writeFileSync(join(root, 'bench/results/cold-start.json'), `${report}\n`);
  console.log(report);
} finally {
  await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
}
