// Pickup latency of the chatd engine: from the commit of a pending chat to the commit of the
// engine's acquire statement (the moment the turn runner is called, right after the acquire's
// RETURNING reply). The real ChatEngine from dist/ runs in this process in a Nest application
// context with its defaults (max 50 chats, batch 10, 1 s poll); a producer on its own
// Postgres connection inserts one pending chat every 1/RATE s (autocommit) and, in mode
// `wake`, publishes `{p}.chatd.wake` on its own NATS connection right after the commit reply,
// as chat-api does; mode `poll` sends no signal, so only the 1 s poll finds the chat. Both
// timestamps come from this process's performance.now(). The bench runner ends each turn at
// once through TurnPersistence.finishTurn (the real end-of-turn transaction).
// Same shape as shared/bench-floors/pickup.js: per-run p50/p95/p99, median over runs.
// Usage: node bench/chatd-pickup.mjs   (env: RUNS=3 N=500 RATE=50 WARMUP=20 MODES=wake,poll)
import { randomBytes } from 'node:crypto';
import {
  baselineBusy,
  build,
  countStatements,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  median,
  NATS_URL,
  pgClient,
  require,
  round,
  seedFixtures,
  sleep,
  startEngine,
  stats,
  writeResult,
} from './chatd-common.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const N = Number(process.env.N ?? 500);
const RATE = Number(process.env.RATE ?? 50);
const WARMUP = Number(process.env.WARMUP ?? 20);
const MODES = (process.env.MODES ?? 'wake,poll').split(',');

build();
const otherLoad = await baselineBusy();
const { connect } = require('@nats-io/transport-node');
const db = await createBenchDb('pickup');
const prefix = `bench${randomBytes(4).toString('hex')}`;
const cpu = cpuMeter();
const results = {};
try {
  const c = await pgClient(db.url);
  const fx = await seedFixtures(c);
  const nc = await connect({ servers: [NATS_URL] });
  const wakeSubject = `${prefix}.chatd.wake`;
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  // Breakdown only: when the wake reaches a subscriber in this process (another connection),
  // and when the engine's acquire statements were sent and answered.
  const probeConn = await connect({ servers: [NATS_URL] });
  const wakeSeen = new Map();
  probeConn.subscribe(wakeSubject, {
    callback: (_err, msg) => wakeSeen.set(JSON.parse(dec.decode(msg.data)).chat_id, performance.now()),
  });
  await probeConn.flush();
  const statements = countStatements({ log: true });
  const insert = {
    name: 'bench_insert_pending_chat',
    text: `INSERT INTO chats (owner_id, organization_id, last_model_config_id, status)
           VALUES ($1, $2, $3, 'pending') RETURNING id`,
    values: [fx.ownerId, fx.orgId, fx.modelId],
  };

  for (const mode of MODES) {
    const runs = [];
    const runsFromSent = [];
    const parts = { wake_delivery: [], until_acquire_sent: [], acquire_statement: [], reply_to_runner: [] };
    cpu();
    for (let r = 0; r < RUNS; r++) {
      await c.query('TRUNCATE chats, event_outbox CASCADE');
      await c.query('VACUUM ANALYZE chats');
      const started = new Map();
      wakeSeen.clear();
      statements.reset();
      const finished = { n: 0, failed: 0 };
      const w = await startEngine({
        url: db.url,
        prefix,
        makeRunner: ({ persistence, workerId }) => ({
          async run({ chat }) {
            started.set(chat.id, performance.now());
            const res = await persistence.finishTurn(chat.id, workerId, { status: 'waiting' });
            if (res.applied) finished.n++;
            else finished.failed++;
          },
        }),
      });
      const sent = new Map();
      const before = new Map();
      const total = WARMUP + N;
      const gap = 1000 / RATE;
      const t0 = performance.now() + 200;
      for (let i = 0; i < total; i++) {
        const wait = t0 + i * gap - performance.now();
        if (wait > 0) await sleep(wait);
        const tb = performance.now();
        const { rows } = await c.query(insert);
        const ta = performance.now();
        const id = rows[0].id;
        if (mode === 'wake') nc.publish(wakeSubject, enc.encode(JSON.stringify({ v: 1, chat_id: id })));
        if (i >= WARMUP) {
          sent.set(id, ta);
          before.set(id, tb);
        }
      }
      const deadline = performance.now() + 5000;
      while (finished.n + finished.failed < total && performance.now() < deadline) await sleep(20);
      await w.close();
      const lat = [];
      const latSent = [];
      const runParts = {
        wake_delivery: [],
        until_acquire_sent: [],
        acquire_statement: [],
        reply_to_runner: [],
      };
      const acquires = statements.entries.filter((e) => e.kind === 'acquire');
      let missing = 0;
      for (const [id, ta] of sent) {
        const t1 = started.get(id);
        if (t1 === undefined) {
          missing++;
          continue;
        }
        lat.push(t1 - ta);
        latSent.push(t1 - before.get(id));
        const acq = acquires.findLast((e) => e.end <= t1);
        if (mode === 'wake' && acq && wakeSeen.has(id)) {
          runParts.wake_delivery.push(wakeSeen.get(id) - ta);
          runParts.until_acquire_sent.push(acq.start - wakeSeen.get(id));
          runParts.acquire_statement.push(acq.end - acq.start);
          runParts.reply_to_runner.push(t1 - acq.end);
        }
      }
      for (const [k, v] of Object.entries(runParts)) if (v.length) parts[k].push(stats(v));
      const s = stats(lat);
      const sb = stats(latSent);
      runs.push(s);
      runsFromSent.push(sb);
      console.error(
        `${mode} run ${r}: n=${s.n} missing=${missing} turns finished=${finished.n} not applied=${finished.failed}` +
          ` | from commit reply: p50 ${s.p50.toFixed(2)} p95 ${s.p95.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(2)} ms` +
          ` | from INSERT sent: p50 ${sb.p50.toFixed(2)} p99 ${sb.p99.toFixed(2)} ms`,
      );
      if (missing > 0) throw new Error(`${missing} chats were not picked up`);
    }
    const med = (rs, k) => round(median(rs.map((s) => s[k])), 3);
    results[mode] = {
      runs: RUNS,
      n_per_run: N,
      warmup_per_run: WARMUP,
      rate_per_s: RATE,
      p50_ms_median: med(runs, 'p50'),
      p95_ms_median: med(runs, 'p95'),
      p99_ms_median: med(runs, 'p99'),
      p99_ms_range: [
        round(Math.min(...runs.map((s) => s.p99)), 3),
        round(Math.max(...runs.map((s) => s.p99)), 3),
      ],
      max_ms_worst: round(Math.max(...runs.map((s) => s.max)), 3),
      min_ms: round(Math.min(...runs.map((s) => s.min)), 3),
      from_insert_sent_p50_ms_median: med(runsFromSent, 'p50'),
      from_insert_sent_p99_ms_median: med(runsFromSent, 'p99'),
      ...(mode === 'wake'
        ? {
            breakdown_p50_p99_ms_median: Object.fromEntries(
              Object.entries(parts).map(([k, rs]) => [k, [med(rs, 'p50'), med(rs, 'p99')]]),
            ),
          }
        : {}),
      ...cpu(),
    };
  }
  await probeConn.close();
  await nc.close();
  await c.end();
} finally {
  await db.drop();
  await deleteStreams(prefix).catch(() => undefined);
}
await writeResult('chatd-pickup', {
  what: 'pending chat commit reply -> engine acquire reply (turn runner called), one process',
  engine: { maxChats: 50, acquireBatch: 10, pollIntervalMs: 1000 },
  other_load_busy_pct_before: otherLoad,
  results,
});
