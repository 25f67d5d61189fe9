// The chatd engine's heartbeat with IDS running chats owned by one worker. The real
// ChatEngine from dist/ runs in this process (max IDS chats, heartbeat every INTERVAL_MS)
// with a turn runner that holds every turn open; the chats table holds ROWS chats of which
// IDS were pending and are acquired by the engine at boot (the rest waiting), like
// shared/bench-floors/pg_heartbeat.js (100k rows, 10k running for the worker).
// Measured on the engine's own timer ticks: the statements node-postgres sends per interval
// (by kind: heartbeat, acquire, recover, other), the tick duration (ChatEngine.heartbeat():
// id list, the one UPDATE … WHERE id = ANY($1) … RETURNING id, the lost-chat check) and the
// statement alone, p50/p99 per run of TICKS ticks after WARMUP, median of RUNS runs; HOT
// updates of the ticks from pg_stat_user_tables. The chats table is vacuumed once before the
// runs, and the runs follow each other, as in pg_heartbeat.js.
// Usage: node bench/chatd-heartbeat.mjs   (env: RUNS=3 TICKS=20 WARMUP=3 IDS=10000 ROWS=100000 INTERVAL_MS=500)
// What-if (not the schema as shipped; written to chatd-heartbeat-whatif.json):
// WHAT_IF_FILLFACTOR=50 sets the chats table's fillfactor in the scratch database first.
import { randomBytes } from 'node:crypto';
import {
  baselineBusy,
  build,
  countStatements,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  insertChats,
  median,
  pgClient,
  round,
  seedFixtures,
  sleep,
  startEngine,
  stats,
  walBytes,
  walLsn,
  writeResult,
} from './chatd-common.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const TICKS = Number(process.env.TICKS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 3);
const IDS = Number(process.env.IDS ?? 10_000);
const ROWS = Number(process.env.ROWS ?? 100_000);
const INTERVAL_MS = Number(process.env.INTERVAL_MS ?? 500);
const WHAT_IF_FILLFACTOR = Number(process.env.WHAT_IF_FILLFACTOR ?? 0);

build();
const otherLoad = await baselineBusy();
const db = await createBenchDb('heartbeat');
const prefix = `bench${randomBytes(4).toString('hex')}`;
const cpu = cpuMeter();
let report;
try {
  const c = await pgClient(db.url);
  const fx = await seedFixtures(c);
  if (WHAT_IF_FILLFACTOR) await c.query(`ALTER TABLE chats SET (fillfactor = ${WHAT_IF_FILLFACTOR})`);
  await insertChats(c, fx, IDS, 'pending');
  await insertChats(c, fx, ROWS - IDS, 'waiting');
  await c.query('VACUUM ANALYZE chats');
  const statements = countStatements();
  const aborted = [];
  const w = await startEngine({
    url: db.url,
    prefix,
    // Capacity for every chat; a large acquire batch only makes the setup quicker.
    engine: { maxChats: IDS, acquireBatch: 1000, heartbeatIntervalMs: INTERVAL_MS },
    makeRunner: () => ({
      run: ({ chat, signal }) =>
        new Promise((resolve) =>
          signal.addEventListener('abort', () => {
            aborted.push({ id: chat.id, reason: signal.reason });
            resolve();
          }),
        ),
    }),
  });
  try {
    for (let t = Date.now(); w.running.size < IDS; await sleep(50))
      if (Date.now() - t > 120_000) throw new Error(`only ${w.running.size} of ${IDS} chats acquired`);
    const owned = (
      await c.query(`SELECT count(*)::int AS n FROM chats WHERE status = 'running' AND worker_id = $1`, [
        w.workerId,
      ])
    ).rows[0].n;
    if (owned !== IDS) throw new Error(`${owned} chats owned, expected ${IDS}`);
    await c.query('VACUUM ANALYZE chats');

    // Wrap the engine's tick (its timer calls `this.heartbeat()`) to time it and to count the
    // statements sent while it ran.
    const ticks = [];
    const startsAt = []; // statement counts when each tick started
    const original = w.engine.heartbeat.bind(w.engine);
    let inFlight = 0;
    let overlapped = 0;
    let measuring = false;
    w.engine.heartbeat = async () => {
      if (!measuring) return original();
      startsAt.push({ ...statements.counts });
      if (inFlight > 0) overlapped++;
      inFlight++;
      const before = { ...statements.counts };
      const hbBefore = statements.durations.heartbeat?.length ?? 0;
      const t0 = performance.now();
      try {
        await original();
      } finally {
        inFlight--;
        const ms = performance.now() - t0;
        const during = {};
        for (const [k, v] of Object.entries(statements.counts))
          if (v - (before[k] ?? 0)) during[k] = v - (before[k] ?? 0);
        ticks.push({
          at: t0,
          ms,
          statements: during,
          statement_ms: statements.durations.heartbeat?.[hbBefore],
        });
      }
    };
    const hot = async () =>
      (
        await c.query(
          `SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'chats'`,
        )
      ).rows[0];
    await sleep(1100); // let the statistics of the setup reach pg_stat_user_tables
    const hot0 = await hot();
    const perRun = [];
    cpu();
    const wal0 = await walLsn(c);
    statements.reset();
    measuring = true;
    const need = RUNS * (WARMUP + TICKS);
    // The window: from the start of the first measured tick to the start of the tick after
    // the last one, i.e. exactly `need` intervals of the engine's timer.
    while (startsAt.length < need + 1 || ticks.length < need) await sleep(INTERVAL_MS / 4);
    measuring = false;
    const wal = await walBytes(c, wal0);
    const windowCounts = {};
    for (const [k, v] of Object.entries(startsAt[need]))
      if (v - (startsAt[0][k] ?? 0)) windowCounts[k] = v - (startsAt[0][k] ?? 0);
    const load = cpu();
    await sleep(1100);
    const hot1 = await hot();
    const heartbeatsSinceReset = statements.counts.heartbeat ?? 0;
    for (let r = 0; r < RUNS; r++) {
      const run = ticks.slice(r * (WARMUP + TICKS) + WARMUP, (r + 1) * (WARMUP + TICKS));
      const s = stats(run.map((t) => t.ms));
      const st = stats(run.map((t) => t.statement_ms));
      perRun.push({ tick: s, statement: st });
      console.error(
        `run ${r}: tick p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms max ${s.max.toFixed(1)} ms;` +
          ` statement alone p50 ${st.p50.toFixed(1)} p99 ${st.p99.toFixed(1)} ms`,
      );
    }
    const measured = ticks.slice(0, need);
    const heartbeatsPerTick = measured.map((t) => t.statements.heartbeat ?? 0);
    const otherInTicks = measured.reduce(
      (a, t) => a + Object.entries(t.statements).reduce((x, [k, v]) => x + (k === 'heartbeat' ? 0 : v), 0),
      0,
    );
    const intervals = need;
    const med = (k, p) => round(median(perRun.map((x) => x[k][p])), 1);
    report = {
      ids: IDS,
      rows: ROWS,
      interval_ms: INTERVAL_MS,
      runs: RUNS,
      ticks_per_run: TICKS,
      warmup_ticks_per_run: WARMUP,
      heartbeat_statements_per_tick: {
        min: Math.min(...heartbeatsPerTick),
        max: Math.max(...heartbeatsPerTick),
      },
      statements_in_window: windowCounts,
      window_intervals: round(intervals, 2),
      heartbeat_statements_per_interval: round((windowCounts.heartbeat ?? 0) / intervals, 2),
      all_statements_per_interval: round(
        Object.values(windowCounts).reduce((a, b) => a + b, 0) / intervals,
        2,
      ),
      other_statements_inside_ticks: otherInTicks,
      overlapping_ticks: overlapped,
      chats_lost: aborted.length,
      tick_p50_ms_median: med('tick', 'p50'),
      tick_p99_ms_median: med('tick', 'p99'),
      tick_p99_ms_range: [
        round(Math.min(...perRun.map((x) => x.tick.p99)), 1),
        round(Math.max(...perRun.map((x) => x.tick.p99)), 1),
      ],
      tick_max_ms_worst: round(Math.max(...perRun.map((x) => x.tick.max)), 1),
      statement_p50_ms_median: med('statement', 'p50'),
      statement_p99_ms_median: med('statement', 'p99'),
      hot_update_share: round((hot1.hot - hot0.hot) / Math.max(1, hot1.upd - hot0.upd), 3),
      wal_bytes_per_tick_cluster_wide: Math.round(wal / need),
      // every heartbeat statement between the two pg_stat_user_tables reads (the counts are
      // cumulative since the reset after the first read)
      rows_updated_per_tick: round((hot1.upd - hot0.upd) / Math.max(1, heartbeatsSinceReset), 0),
      ...load,
    };
    console.error(
      `heartbeat statements per interval ${report.heartbeat_statements_per_interval}` +
        ` (all statements ${report.all_statements_per_interval}); HOT share ${report.hot_update_share}; lost ${aborted.length}; overlapping ticks ${overlapped}`,
    );
  } finally {
    await w.close();
  }
  await c.end();
} finally {
  await db.drop();
  await deleteStreams(prefix).catch(() => undefined);
}
await writeResult(WHAT_IF_FILLFACTOR ? 'chatd-heartbeat-whatif' : 'chatd-heartbeat', {
  what: 'one heartbeat tick of the engine with its chats all running, on the engine timer',
  ...(WHAT_IF_FILLFACTOR
    ? { what_if: `schema changed in the scratch db: chats fillfactor = ${WHAT_IF_FILLFACTOR}` }
    : {}),
  engine: { maxChats: IDS, heartbeatIntervalMs: INTERVAL_MS, poolSize: 10 },
  other_load_busy_pct_before: otherLoad,
  results: report,
});
