// AI Bridge read API latency at scale: a scratch database with ~2,000,000 completed
// interceptions in ~320,000 sessions (50 users, 5 provider instances of 3 types, 12 models,
// 6 clients; one token usage and one prompt per interception, a tool usage on every third),
// generated set-based with generate_series, then GET /api/v2/aibridge/sessions and
// /interceptions through HTTP against chat-api from dist/ (sequential requests, 25-row pages:
// the first page, deeper pages by cursor, and a filtered page), reporting p50/p95 per case and
// EXPLAIN (ANALYZE, BUFFERS) of the statements behind the sessions page (cursor resolution,
// count, page) built by the service's own SQL builders. Writes bench/results/aibridge-read.json.
//
// Usage: node bench/aibridge-read.mjs [requests per case = 200]
//   AIBRIDGE_BENCH_SESSIONS=320000  sessions to generate (interceptions ≈ 6.4 × sessions)
//   AIBRIDGE_BENCH_KEEP=1           keep the scratch database and print its name
//   AIBRIDGE_BENCH_DB=<name>        reuse a database kept by an earlier run (no generation)
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ADMIN_URL, NATS_URL, build, dist, pgClient, root } from './chatd-common.mjs';

const REQUESTS = Number(process.argv[2] ?? 200);
const SESSIONS = Number(process.env.AIBRIDGE_BENCH_SESSIONS ?? 320_000);
const USERS = 50;
const PAGE = 25;
const TARGET_P95_MS = 50;

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

async function admin(sql) {
  const c = await pgClient(ADMIN_URL);
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

const dbUrl = (name) => Object.assign(new URL(ADMIN_URL), { pathname: `/${name}` }).toString();

async function migrate(url) {
  const child = spawn(process.execPath, [join(root, 'dist/migrations/cli.js'), 'migrate'], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error('migrate failed');
}

const step = async (label, fn) => {
  const t0 = performance.now();
  const r = await fn();
  console.error(`  ${label}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r;
};

/**
 * The dataset. Session j (1..SESSIONS) belongs to user j % 50 and starts at a point spread
 * evenly over 60 days (so sessions interleave: each runs up to ~2 h); it has 1 interception
 * (j % 10 = 0), else 2..12. Kinds: j % 10 in 1..3 are thread sessions (a root and its
 * children, session_id = the root's id), 4..9 carry a client session id with a new thread
 * root every third interception, 0 are lone interceptions. The newest ~0.1% are in flight.
 */
async function generate(c) {
  await c.query(`
    CREATE TEMP TABLE bench_users AS
      SELECT g AS un, md5('user' || g)::uuid AS id FROM generate_series(0, ${USERS - 1}) g;
    INSERT INTO users (id, email, username, name)
      SELECT id, 'u' || un || '@bench.example', 'u' || un, 'Bench User ' || un FROM bench_users`);
  await step('interceptions', () =>
    c.query(`
      INSERT INTO aibridge_interceptions (id, initiator_id, provider, provider_name, model, client, started_at,
        ended_at, thread_root_id, thread_parent_id, client_session_id, metadata, api_key_id)
      SELECT md5('i' || s.j || '-' || n)::uuid,
             u.id,
             (ARRAY['openai', 'anthropic', 'copilot', 'copilot', 'openai'])[1 + (s.j + n / 4) % 5],
             (ARRAY['openai', 'anthropic', 'copilot', 'copilot-business', 'chatgpt'])[1 + (s.j + n / 4) % 5],
             (ARRAY['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-5', 'o3', 'o4-mini', 'claude-sonnet-4',
                    'claude-opus-4', 'claude-haiku-4', 'gemini-2.5-pro', 'grok-4', 'codestral'])[1 + (s.j * 7 + n) % 12],
             (ARRAY['Claude Code', 'Codex', 'GitHub Copilot (VS Code)', 'Cursor', 'Zed', 'Unknown'])[1 + s.j % 6],
             s.t0 + (n - 1) * s.gap,
             CASE WHEN s.t0 + (n - 1) * s.gap > now() - interval '90 minutes' THEN NULL
                  ELSE s.t0 + (n - 1) * s.gap + interval '7 seconds' END,
             CASE WHEN n = 1 OR s.j % 10 = 0 OR s.j % 10 >= 4 AND (n - 1) % 3 = 0 THEN NULL
                  WHEN s.j % 10 <= 3 THEN md5('i' || s.j || '-1')::uuid
                  ELSE md5('i' || s.j || '-' || ((n - 1) / 3 * 3 + 1))::uuid END,
             CASE WHEN n = 1 OR s.j % 10 = 0 OR s.j % 10 >= 4 AND (n - 1) % 3 = 0 THEN NULL
                  ELSE md5('i' || s.j || '-' || (n - 1))::uuid END,
             CASE WHEN s.j % 10 >= 4 THEN 'cs-' || md5('s' || s.j) END,
             '{"request_user_agent": "bench/1.0"}'::jsonb,
             'key-' || (s.j % ${USERS})
        FROM (SELECT j,
                     CASE WHEN j % 10 = 0 THEN 1 ELSE 2 + (j::bigint * 7919 % 11)::int END AS k,
                     now() - interval '60 days' + j * (interval '60 days' / ${SESSIONS}) AS t0,
                     (20 + j::bigint * 104729 % 600) * interval '1 second' AS gap
                FROM generate_series(1, ${SESSIONS}) j) s
        JOIN bench_users u ON u.un = s.j % ${USERS}
        CROSS JOIN LATERAL generate_series(1, s.k) n`),
  );
  await step('token usages', () =>
    c.query(`
      INSERT INTO aibridge_token_usages (id, interception_id, provider_response_id, input_tokens, output_tokens,
        cache_read_input_tokens, cache_write_input_tokens, metadata, created_at)
      SELECT md5('t' || id)::uuid, id, 'msg_' || left(id::text, 8), 1000 + (hashtext(id::text) & 4095), 200,
             hashtext(id::text) & 511, 0, '{"total_tokens": 1200}', started_at + interval '3 seconds'
        FROM aibridge_interceptions`),
  );
  await step('prompts', () =>
    c.query(`
      INSERT INTO aibridge_user_prompts (id, interception_id, provider_response_id, prompt, metadata, created_at)
      SELECT md5('p' || id)::uuid, id, 'msg_' || left(id::text, 8), 'please fix ' || left(id::text, 8), '{}',
             started_at + interval '1 second'
        FROM aibridge_interceptions`),
  );
  await step('tool usages', () =>
    c.query(`
      INSERT INTO aibridge_tool_usages (id, interception_id, provider_response_id, provider_tool_call_id, tool,
        input, injected, created_at)
      SELECT md5('u' || id)::uuid, id, 'msg_' || left(id::text, 8), 'call_' || left(id::text, 8), 'read_file',
             '{"path":"main.go"}', false, started_at + interval '2 seconds'
        FROM aibridge_interceptions WHERE hashtext(id::text) % 3 = 0`),
  );
  await step('vacuum analyze', () => c.query('VACUUM (ANALYZE)'));
}

async function startChatApi(url) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'dist/apps/chat-api/src/main.js')], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: url,
      NATS_URL,
      NATS_SUBJECT_PREFIX: `bench${process.pid}`,
      LOG_LEVEL: 'warn',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: String(await freePort()),
      LOGIN_RATE_LIMIT_IP: '1000',
      LOGIN_RATE_LIMIT_ACCOUNT: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  for (;;) {
    try {
      if ((await fetch(`${base}/api/v2/users/first`)).status < 500) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 60_000) throw new Error('chat-api not ready after 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base, stop: () => (child.kill('SIGTERM'), new Promise((r) => child.once('exit', r))) };
}

async function ownerToken(base) {
  const creds = { email: 'owner@bench.example', password: 'bench owner password 1' };
  const first = await fetch(`${base}/api/v2/users/first`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...creds, username: 'bench-owner', name: 'Bench Owner', trial: false }),
  });
  if (first.status !== 201 && first.status !== 409) throw new Error(`first user: ${first.status}`);
  const login = await fetch(`${base}/api/v2/users/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(creds),
  });
  return (await login.json()).session_token;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** `REQUESTS` sequential GETs of `path()` after 10 warm-up requests; status must be 200. */
async function measure(base, token, path) {
  const get = async () => {
    const p = path();
    const t0 = performance.now();
    const res = await fetch(`${base}${p}`, { headers: { 'Coder-Session-Token': token } });
    const body = await res.json();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${JSON.stringify(body)}`);
    return { ms, body };
  };
  for (let i = 0; i < 10; i++) await get();
  const times = [];
  let last;
  for (let i = 0; i < REQUESTS; i++) {
    const r = await get();
    times.push(r.ms);
    last = r.body;
  }
  times.sort((a, b) => a - b);
  const round = (x) => Math.round(x * 10) / 10;
  return { p50_ms: round(pct(times, 50)), p95_ms: round(pct(times, 95)), max_ms: round(times.at(-1)), last };
}

/** The sessions list's statements for an owner, from the service's own SQL builders. */
function sessionStatements(cursor) {
  const { Params, FilterSql, sessionPageSql, enrichSessionsSql, sessionCountSql } = dist(
    'apps/chat-api/src/aibridge/aibridge.sql.js',
  );
  const { expandRoles, SCOPE_ALL } = dist('libs/rbac/src/index.js');
  const ownerId = randomUUID();
  const auth = {
    userId: ownerId,
    subject: { id: ownerId, roles: expandRoles(['owner'], {}), groups: [], scope: SCOPE_ALL },
  };
  const count = () => {
    const p = new Params();
    const f = new FilterSql({}, p);
    return [sessionCountSql(f, p.authz(auth, 'ai')), p.values];
  };
  const page = (withCursor) => {
    const p = new Params();
    const f = new FilterSql({}, p);
    const sql = sessionPageSql(f, p.authz(auth, 'ai'), {
      limit: p.add(PAGE),
      offset: p.add(0),
      cursor: withCursor
        ? {
            startedAt: p.add(cursor.started_at, '::timestamptz'),
            sessionId: p.add(cursor.session_id, '::text'),
            initiatorId: p.add(cursor.initiator_id, '::uuid'),
          }
        : undefined,
    });
    return [enrichSessionsSql(sql, f), p.values];
  };
  return { count, page, auth, Params, FilterSql, sessionPageSql, enrichSessionsSql };
}

/** p50/p95 of the sessions page statement alone and of the count alone (`REQUESTS` runs each). */
async function statementTimings(c, cursor) {
  const st = sessionStatements(cursor);
  const out = {};
  for (const [label, [sql, params]] of Object.entries({
    'sessions page statement (first page)': st.page(false),
    'sessions page statement (after a cursor 300 sessions deep)': st.page(true),
    'sessions count statement': st.count(),
  })) {
    for (let i = 0; i < 5; i++) await c.query(sql, params);
    const times = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      await c.query(sql, params);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    out[label] = {
      p50_ms: Math.round(pct(times, 50) * 10) / 10,
      p95_ms: Math.round(pct(times, 95) * 10) / 10,
    };
    console.error(`  ${label}: p50 ${out[label].p50_ms} ms, p95 ${out[label].p95_ms} ms`);
  }
  return out;
}

/** The sort key of the session 300 deep in the list (a cursor for the deeper-page statement). */
async function deepCursor(c) {
  const { Params, FilterSql, sessionPageSql, auth } = sessionStatements();
  const { exactTs } = dist('apps/chat-api/src/aibridge/aibridge.sql.js');
  const p = new Params();
  const sql = sessionPageSql(new FilterSql({}, p), p.authz(auth, 'ai'), {
    limit: p.add(1),
    offset: p.add(300),
  });
  const { rows } = await c.query(
    `SELECT ${exactTs('x.started_at')} AS started_at, x.session_id, x.initiator_id FROM (${sql}) x`,
    p.values,
  );
  return rows[0];
}

/** EXPLAIN (ANALYZE, BUFFERS) of the sessions list's statements, from the service's builders. */
async function explainSessions(c, cursorSession) {
  const st = sessionStatements();
  const { Params, FilterSql, sessionPageSql, enrichSessionsSql, auth } = st;
  const plans = {};
  const explain = async (name, sql, params) => {
    const { rows } = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
    plans[name] = rows.map((r) => r['QUERY PLAN']).join('\n');
  };
  await explain('count', ...st.count());
  await explain('page (first)', ...st.page(false));
  {
    const p = new Params();
    const f = new FilterSql({ sessionId: cursorSession }, p);
    const sql = sessionPageSql(f, p.authz(auth, 'ai'), { limit: '1', offset: '0', order: 'asc' });
    await explain('cursor resolution', sql, p.values);
  }
  {
    const p = new Params();
    const f = new FilterSql({ provider: 'anthropic' }, p);
    const page = sessionPageSql(f, p.authz(auth, 'ai'), { limit: p.add(PAGE), offset: p.add(0) });
    await explain('page (provider:anthropic)', enrichSessionsSql(page, f), p.values);
  }
  {
    // The unfiltered lists' count as served: read from the kept per-initiator counts.
    const { statsCountSql } = dist('apps/chat-api/src/aibridge/aibridge.sql.js');
    const p = new Params();
    await explain('kept count (unfiltered)', statsCountSql('sessions', {}, auth, p), p.values);
  }
  {
    // The interceptions page (the service's statement): a keyset walk of (started_at DESC, id DESC).
    const { INTERCEPTION_COLUMNS, USER_COLUMNS } = dist('apps/chat-api/src/aibridge/aibridge.sql.js');
    const p = new Params();
    const f = new FilterSql({}, p);
    const sql = `SELECT ${INTERCEPTION_COLUMNS('ai')}, ${USER_COLUMNS}
        FROM aibridge_interceptions ai LEFT JOIN users u ON u.id = ai.initiator_id
       WHERE ${[...f.allConds('ai'), p.authz(auth, 'ai')].join(' AND ')}
       ORDER BY ai.started_at DESC, ai.id DESC LIMIT ${p.add(PAGE)} OFFSET ${p.add(0)}`;
    await explain('interceptions page (first)', sql, p.values);
  }
  return plans;
}

build();
const reuse = process.env.AIBRIDGE_BENCH_DB;
const name = reuse ?? `am_bench_aibridge_${process.pid}`;
const url = dbUrl(name);
if (!reuse) {
  await admin(`CREATE DATABASE "${name}"`);
  await migrate(url);
}
const keep = Boolean(reuse) || process.env.AIBRIDGE_BENCH_KEEP === '1';
let api;
let c;
try {
  c = await pgClient(url);
  c.on('error', () => {});
  api = await startChatApi(url);
  // The first user (the owner who reads everything) must exist before the bench users.
  const token = await ownerToken(api.base);
  if (!reuse) {
    console.error(`generating ${SESSIONS} sessions into ${name}`);
    await generate(c);
  }
  const [{ interceptions, completed, sessions }] = (
    await c.query(`SELECT count(*)::int AS interceptions, count(ended_at)::int AS completed,
                          (SELECT count(*)::int FROM (SELECT 1 FROM aibridge_interceptions WHERE ended_at IS NOT NULL
                            GROUP BY session_id, initiator_id) p) AS sessions
                     FROM aibridge_interceptions`)
  ).rows;
  console.error(`dataset: ${interceptions} interceptions (${completed} completed), ${sessions} sessions`);
  const first = await (
    await fetch(`${api.base}/api/v2/aibridge/sessions?limit=${PAGE}`, {
      headers: { 'Coder-Session-Token': token },
    })
  ).json();
  // Cursors from the first pages, cycled so each request is a different deeper page.
  const cursors = [];
  {
    let after = first.sessions.at(-1).id;
    for (let i = 0; i < 20; i++) {
      cursors.push(after);
      const r = await (
        await fetch(
          `${api.base}/api/v2/aibridge/sessions?limit=${PAGE}&after_session_id=${encodeURIComponent(after)}`,
          {
            headers: { 'Coder-Session-Token': token },
          },
        )
      ).json();
      after = r.sessions.at(-1).id;
    }
  }
  const icursors = [];
  {
    let r = await (
      await fetch(`${api.base}/api/v2/aibridge/interceptions?limit=${PAGE}`, {
        headers: { 'Coder-Session-Token': token },
      })
    ).json();
    for (let i = 0; i < 20; i++) {
      icursors.push(r.results.at(-1).id);
      r = await (
        await fetch(
          `${api.base}/api/v2/aibridge/interceptions?limit=${PAGE}&after_id=${r.results.at(-1).id}`,
          {
            headers: { 'Coder-Session-Token': token },
          },
        )
      ).json();
    }
  }
  let n = 0;
  const next = (list) => list[n++ % list.length];
  const cases = {
    'sessions first page': () => `/api/v2/aibridge/sessions?limit=${PAGE}`,
    'sessions by after_session_id': () =>
      `/api/v2/aibridge/sessions?limit=${PAGE}&after_session_id=${encodeURIComponent(next(cursors))}`,
    'sessions provider:anthropic': () => `/api/v2/aibridge/sessions?limit=${PAGE}&q=provider%3Aanthropic`,
    'sessions initiator:u7': () => `/api/v2/aibridge/sessions?limit=${PAGE}&q=initiator%3Au7`,
    'interceptions first page': () => `/api/v2/aibridge/interceptions?limit=${PAGE}`,
    'interceptions by after_id': () =>
      `/api/v2/aibridge/interceptions?limit=${PAGE}&after_id=${next(icursors)}`,
    'session threads': () => `/api/v2/aibridge/sessions/${encodeURIComponent(next(cursors))}`,
  };
  const results = {};
  for (const [label, path] of Object.entries(cases)) {
    const { last, ...stats } = await measure(api.base, token, path);
    results[label] = stats;
    console.error(`  ${label}: p50 ${stats.p50_ms} ms, p95 ${stats.p95_ms} ms`);
    if (label === 'sessions first page' && last.sessions.length !== PAGE) throw new Error('short first page');
  }
  const statements = await statementTimings(c, await deepCursor(c));
  const plans = await explainSessions(c, cursors[0]);
  for (const [label, plan] of Object.entries(plans))
    console.log(
      `\n-- EXPLAIN ANALYZE: ${label.startsWith('interceptions') ? '' : 'sessions '}${label}\n${plan}`,
    );
  const report = {
    bench: 'aibridge-read',
    at: new Date().toISOString(),
    dataset: { interceptions, completed, sessions, users: USERS },
    page_size: PAGE,
    requests_per_case: REQUESTS,
    target: { case: 'sessions first page', p95_ms: TARGET_P95_MS },
    results,
    statements,
  };
  writeFileSync(join(root, 'bench/results/aibridge-read.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${JSON.stringify(report, null, 2)}`);
} finally {
  await c?.end().catch(() => {});
  await api?.stop();
  if (keep) console.error(`kept database ${name} (AIBRIDGE_BENCH_DB=${name} reuses it)`);
  else await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
