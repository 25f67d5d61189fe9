// Shared plumbing of the chatd engine benchmarks (chatd-*.mjs): a scratch database migrated
// with the compiled migrations, the chat fixtures (user, organization, provider, model
// config), the real ChatEngine from dist/ in a Nest application context with a bench turn
// runner, a per-statement counter on node-postgres, statistics in the same shape as
// shared/bench-floors (p50/p99 per run, median of runs) and the CPU steal meter.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const require = createRequire(join(root, 'package.json'));
export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** A compiled module of the workspace (run `build()` first). */
export const dist = (p) => require(join(root, 'dist', p));

export function build() {
  const r = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--quiet'], {
    stdio: ['ignore', 2, 2],
  });
  if (r.status !== 0) throw new Error('build failed');
}

const pg = require('pg');

export async function pgClient(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

async function adminQuery(sql) {
  const c = await pgClient(ADMIN_URL);
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database with every migration applied; `drop()` removes it. */
export async function createBenchDb(tag) {
  const name = `am_bench_${tag}_${process.pid}`;
  const url = Object.assign(new URL(ADMIN_URL), { pathname: `/${name}` }).toString();
  await adminQuery(`CREATE DATABASE "${name}"`);
  const m = spawnSync(process.execPath, [join(root, 'dist/migrations/cli.js'), 'migrate'], {
    env: { ...process.env, DATABASE_URL: url },
  });
  if (m.status !== 0) throw new Error(String(m.stderr));
  return { name, url, drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/** One owner, organization, provider and model config that every bench chat points at. */
export async function seedFixtures(c) {
  const ownerId = randomUUID();
  const orgId = randomUUID();
  const modelId = randomUUID();
  await c.query(`INSERT INTO users (id, email, username) VALUES ($1, 'bench@example.com', 'bench')`, [
    ownerId,
  ]);
  await c.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'bench', 'Bench')`, [orgId]);
  await c.query(`INSERT INTO chat_providers (provider, display_name) VALUES ('openai', 'OpenAI')`);
  await c.query(
    `INSERT INTO chat_model_configs (id, provider, model, context_limit, is_default) VALUES ($1, 'openai', 'gpt-bench', 100000, true)`,
    [modelId],
  );
  return { ownerId, orgId, modelId };
}

/**
 * `n` chats in one statement, `updated_at` one microsecond apart (acquire takes the oldest
 * first), like shared/bench-floors fills its job tables.
 */
export function insertChats(c, fx, n, status) {
  return c.query(
    `INSERT INTO chats (owner_id, organization_id, last_model_config_id, status, updated_at)
     SELECT $1, $2, $3, $4::chat_status, now() + g * interval '1 microsecond' FROM generate_series(1, $5::int) g`,
    [fx.ownerId, fx.orgId, fx.modelId, status, n],
  );
}

/** The engine's options as chatd-worker builds them from its config defaults. */
export const ENGINE_DEFAULTS = {
  maxChats: 50, // CHATD_MAX_CHATS
  acquireBatch: 10, // CHATD_ACQUIRE_BATCH
  pollIntervalMs: 1000, // CHATD_POLL_INTERVAL
  heartbeatIntervalMs: 30_000, // CHATD_HEARTBEAT_INTERVAL
  staleAfterMs: 300_000, // CHATD_STALE_THRESHOLD
};

/**
 * The real ChatEngine (dist/) with its RunningChats, DatabaseModule, BusModule (subscribed to
 * `{p}.chatd.wake`) and TurnPersistence, in a Nest application context like chatd-worker's
 * module, but with `makeRunner({ persistence, ds, workerId })` as the TurnRunner.
 * Booting it starts the engine (recover, acquire, timers).
 */
export async function startEngine({ url, prefix, makeRunner, engine = {}, poolSize = 10, outbox = false }) {
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core');
  const { DataSource } = require('typeorm');
  const { ObservabilityModule, createLogger, Metrics } = dist('libs/observability/src/index.js');
  const { DatabaseModule } = dist('libs/db/src/index.js');
  const { BusModule, Subjects } = dist('libs/bus/src/index.js');
  const { TurnPersistence } = dist('libs/chats/src/turn-persistence.service.js');
  const { ChatEngine, ENGINE_OPTIONS } = dist('apps/chatd-worker/src/engine/chat-engine.service.js');
  const { RunningChats } = dist('apps/chatd-worker/src/engine/running-chats.js');
  const { TURN_RUNNER } = dist('apps/chatd-worker/src/engine/turn-runner.js');
  const workerId = randomUUID();
  const opts = { workerId, ...ENGINE_DEFAULTS, ...engine };
  class ChatdBenchModule {}
  const app = await NestFactory.createApplicationContext(
    {
      module: ChatdBenchModule,
      imports: [
        ObservabilityModule.forRoot({
          logger: createLogger('chatd-bench', process.env.LOG_LEVEL ?? 'silent'),
          metrics: new Metrics('chatd_bench'),
        }),
        DatabaseModule.forRoot({
          url,
          poolSize,
          applicationName: 'agentmesh-chatd-bench',
          statementTimeoutMs: 30_000,
        }),
        BusModule.forRoot({
          nats: { servers: [NATS_URL], prefix, name: 'chatd-bench' },
          subscriptions: [{ kind: 'subject', subject: Subjects.chatdWake }],
          streams: ['CHAT_EVENTS'],
          outbox: { enabled: outbox },
        }),
      ],
      providers: [
        { provide: ENGINE_OPTIONS, useValue: opts },
        TurnPersistence,
        RunningChats,
        {
          provide: TURN_RUNNER,
          inject: [TurnPersistence, DataSource],
          useFactory: (persistence, ds) => makeRunner({ persistence, ds, workerId }),
        },
        ChatEngine,
      ],
    },
    { logger: false, abortOnError: false },
  );
  return {
    app,
    workerId,
    opts,
    engine: app.get(ChatEngine),
    running: app.get(RunningChats),
    ds: app.get(DataSource),
    close: () => app.close(),
  };
}

/** Deletes the JetStream streams a bench prefix provisioned. */
export async function deleteStreams(prefix) {
  const { connect } = require('@nats-io/transport-node');
  const { jetstreamManager } = require('@nats-io/jetstream');
  const nc = await connect({ servers: [NATS_URL], timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const upper = `${prefix.toUpperCase()}_`;
    for await (const name of jsm.streams.names()) if (name.startsWith(upper)) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

const STATEMENT_KINDS = [
  ['acquire', /SET status = 'running', worker_id = \$1/],
  ['heartbeat', /UPDATE chats SET heartbeat_at = now\(\)/],
  ['recover', /WITH stale AS/],
  ['release', /UPDATE chats SET status = 'pending', worker_id = NULL/],
];

/**
 * Counts (and times) every statement node-postgres sends in this process, by kind:
 * the engine's acquire / heartbeat / recover / release statements, `other` for the rest.
 */
export function countStatements({ log = false } = {}) {
  const proto = pg.Client.prototype;
  const original = proto.query;
  const counts = {};
  const durations = {};
  /** With `log`: every statement as { kind, start, end } (performance.now()). */
  const entries = [];
  proto.query = function (config, values, callback) {
    const text = typeof config === 'string' ? config : config?.text;
    const kind = STATEMENT_KINDS.find(([, re]) => re.test(text ?? ''))?.[0] ?? 'other';
    counts[kind] = (counts[kind] ?? 0) + 1;
    const t0 = performance.now();
    const done = () => {
      const t1 = performance.now();
      (durations[kind] ??= []).push(t1 - t0);
      if (log) entries.push({ kind, start: t0, end: t1 });
    };
    // pg-pool's `pool.query()` (the engine's named acquire) passes a callback: no promise.
    const timed = (cb) =>
      function (err, res) {
        if (!err) done();
        return cb.call(this, err, res);
      };
    if (typeof callback === 'function') callback = timed(callback);
    else if (typeof values === 'function') values = timed(values);
    const result = original.call(this, config, values, callback);
    if (result && typeof result.then === 'function') result.then(done, () => undefined);
    return result;
  };
  return {
    counts,
    durations,
    entries,
    reset() {
      for (const k of Object.keys(counts)) delete counts[k];
      for (const k of Object.keys(durations)) delete durations[k];
      entries.length = 0;
    },
  };
}

export function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function stats(values) {
  const s = Float64Array.from(values).sort();
  return {
    n: s.length,
    min: s[0],
    p50: pct(s, 50),
    p95: pct(s, 95),
    p99: pct(s, 99),
    max: s[s.length - 1],
  };
}

export const median = (values) => pct(Float64Array.from(values).sort(), 50);
export const round = (x, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Share of CPU time stolen by the hypervisor and busy since the last call (as bench-floors). */
export function cpuMeter() {
  const ticks = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0, idle: f[3] + (f[4] ?? 0) };
  };
  let last = ticks();
  return () => {
    const now = ticks();
    const d = now.total - last.total || 1;
    const out = {
      steal_pct: round((100 * (now.steal - last.steal)) / d, 1),
      busy_pct: round(100 * (1 - (now.idle - last.idle) / d), 1),
    };
    last = now;
    return out;
  };
}

/** CPU busy % over `ms` before a bench starts: the other load on this shared machine. */
export async function baselineBusy(ms = 2000) {
  const meter = cpuMeter();
  await sleep(ms);
  return meter().busy_pct;
}

/**
 * CPU time (user + system, from /proc/<pid>/stat) used by the Postgres client backends of one
 * database other than `c`'s own: call `start()` when the connections under test are open and
 * `stop()` at the end (ms; a backend that appeared meanwhile counts from 0). Attributable to
 * the bench even when other load shares the machine, unlike wall time.
 */
export function pgBackendCpu(c, dbName) {
  const hz = 100; // USER_HZ on Linux
  const read = (pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / hz;
    } catch {
      return undefined;
    }
  };
  const pids = async () =>
    (
      await c.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        [dbName],
      )
    ).rows.map((r) => r.pid);
  let before = new Map();
  return {
    async start() {
      before = new Map((await pids()).map((p) => [p, read(p) ?? 0]));
    },
    async stop() {
      let ms = 0;
      for (const p of await pids()) ms += (read(p) ?? 0) - (before.get(p) ?? 0);
      return ms;
    },
  };
}

/** The cluster's WAL position; `walBytes(c, from)` is what was written since (every database). */
export const walLsn = async (c) => (await c.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
export const walBytes = async (c, from) =>
  Number((await c.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint AS b', [from])).rows[0].b);

/** Writes bench/results/<name>.json (formatted as `npm run lint`'s prettier check wants it). */
export async function writeResult(name, report) {
  const prettier = require('prettier');
  const file = join(root, 'bench/results', `${name}.json`);
  const text = await prettier.format(
    JSON.stringify({ bench: name, at: new Date().toISOString(), ...report }),
    {
      ...(await prettier.resolveConfig(file)),
      filepath: file,
    },
  );
  writeFileSync(file, text);
  console.log(text);
}

// ---------------------------------------------------------------------------------------
// Live benches (chatd-ws-latency.mjs, chatd-turns.mjs): the built apps as processes.

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => (port ? res(port) : rej(new Error('no port'))));
    });
  });
}

/** Polls `fn` until it returns something truthy. */
export async function waitUntil(what, fn, timeoutMs = 30_000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${last?.message ?? ''}`);
    await sleep(intervalMs);
  }
}

/** The environment an app process gets (as libs/testing's appTestEnv), plus `extra`. */
export const appEnv = (url, prefix, extra = {}) => ({
  PATH: process.env.PATH ?? '',
  DATABASE_URL: url,
  NATS_URL,
  NATS_SUBJECT_PREFIX: prefix,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
  HTTP_HOST: '127.0.0.1',
  HEALTH_HOST: '127.0.0.1',
  DB_POOL_SIZE: '10',
  ...extra,
});

/** Starts `dist/<entry>`; resolves once `readyUrl` answers 200. `stop()` sends SIGTERM. */
export async function startApp(entry, env, readyUrl) {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [join(root, 'dist', entry)], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((res) => child.on('exit', res));
  try {
    await waitUntil(`${entry} ready`, async () => {
      if (child.exitCode !== null) throw new Error(`exited: ${out}`);
      return (await fetch(readyUrl)).ok;
    });
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${out.slice(-2000)}`);
  }
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** chat-api on a free port; resolves with its base URL. */
export async function startChatApi(url, prefix, extra = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = await startApp(
    'apps/chat-api/src/main.js',
    appEnv(url, prefix, {
      HTTP_PORT: String(port),
      LOGIN_RATE_LIMIT_ACCOUNT: '1000',
      LOGIN_RATE_LIMIT_IP: '1000',
      ...extra,
    }),
    `${base}/readyz`,
  );
  return { ...app, base };
}

/** JSON over HTTP with a session token. */
export async function api(base, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers['Coder-Session-Token'] = token;
  const res = await fetch(new URL(path, base), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The first user (owner of the default organization), logged in. */
export async function firstOwner(base) {
  const owner = {
    email: 'owner@example.com',
    username: 'owner',
    name: 'Bench Owner',
    password: 'correct horse battery',
  };
  const first = await api(base, 'POST', '/api/v2/users/first', owner);
  if (first.status !== 201 && first.status !== 200) throw new Error(`first user: ${JSON.stringify(first)}`);
  const login = await api(base, 'POST', '/api/v2/users/login', {
    email: owner.email,
    password: owner.password,
  });
  if (!login.body?.session_token) throw new Error(`login: ${JSON.stringify(login)}`);
  return { token: login.body.session_token, orgId: first.body.organization_id, userId: first.body.user_id };
}
