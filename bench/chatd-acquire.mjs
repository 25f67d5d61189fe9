// Acquisition throughput of the chatd engine: two worker processes, each the real ChatEngine
// from dist/ (defaults: max 50 chats, batch 10, 1 s poll, pool of 10 connections) with a
// bench turn runner, drain CHATS pending chats. The chats are inserted as `waiting`, vacuumed
// and checkpointed (as shared/bench-floors/pg_acquire.js fills its table), both workers boot,
// then one UPDATE makes them all pending and `{p}.chatd.wake` is published. The clock runs
// from that UPDATE's commit reply to the last acquisition (the runner's start), in
// CLOCK_MONOTONIC (process.hrtime.bigint(), shared by all processes on Linux).
// Runners (VARIANTS):
//   sql          ends each turn with one `UPDATE chats SET status = 'waiting' … WHERE id = $1`
//                (like pg_acquire.js DONE=each);
//   persistence  ends each turn through TurnPersistence.finishTurn (the real end-of-turn
//                transaction: lock, queue check, status, outbox row) with the outbox relay on,
//                as chatd-worker runs it;
//   none         returns at once and leaves the chat running (like DONE=none: acquisition alone).
// Usage: node bench/chatd-acquire.mjs   (env: RUNS=3 CHATS=20000 VARIANTS=sql,persistence,none)
// Engine knobs (default: chatd-worker's defaults): ACQUIRE_BATCH, MAX_CHATS, POOL_SIZE.
// Also measured: CPU time of the Postgres backends serving the workers (from /proc; the box is
// shared, so this is the part of the cost that other load does not blur) per 1,000 chats.
// What-if (not the schema as shipped; written to chatd-acquire-whatif.json):
// WHAT_IF_NO_PENDING_INDEX=1 drops idx_chats_pending_since in the scratch database, so the
// acquire reads and sorts every pending chat again (the plan before that index).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  baselineBusy,
  build,
  countStatements,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  median,
  NATS_URL,
  pgBackendCpu,
  pgClient,
  require,
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
const CHATS = Number(process.env.CHATS ?? 20_000);
const WORKERS = Number(process.env.WORKERS ?? 2);
const VARIANTS = (process.env.VARIANTS ?? 'sql,persistence,none').split(',');
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 180_000);
const WHAT_IF = process.env.WHAT_IF_NO_PENDING_INDEX === '1';
const ENGINE = {
  ...(process.env.ACQUIRE_BATCH ? { acquireBatch: Number(process.env.ACQUIRE_BATCH) } : {}),
  ...(process.env.MAX_CHATS ? { maxChats: Number(process.env.MAX_CHATS) } : {}),
};
const POOL_SIZE = Number(process.env.POOL_SIZE ?? 10);

async function worker() {
  const { url, prefix, variant } = JSON.parse(process.env.CHATD_BENCH_WORKER);
  const statements = countStatements();
  const acquired = [];
  let first = 0n;
  let last = 0n;
  let failed = 0;
  const w = await startEngine({
    url,
    prefix,
    outbox: variant === 'persistence',
    engine: ENGINE,
    poolSize: POOL_SIZE,
    makeRunner: ({ persistence, ds, workerId }) => ({
      async run({ chat }) {
        last = process.hrtime.bigint();
        if (acquired.length === 0) first = last;
        acquired.push(chat.id);
        if (variant === 'sql') {
          await ds.query(
            `UPDATE chats SET status = 'waiting', worker_id = NULL, updated_at = now() WHERE id = $1 AND worker_id = $2`,
            [chat.id, workerId],
          );
        } else if (variant === 'persistence') {
          const res = await persistence.finishTurn(chat.id, workerId, { status: 'waiting' });
          if (!res.applied) failed++;
        }
      },
    }),
  });
  const progress = setInterval(() => process.send({ progress: acquired.length }), 100);
  const cpu0 = process.cpuUsage();
  process.on('message', async (m) => {
    if (m.cmd !== 'stop') return;
    clearInterval(progress);
    await w.running.settled();
    const used = process.cpuUsage(cpu0);
    const acq = stats(statements.durations.acquire ?? []);
    process.send({
      finished: {
        n: acquired.length,
        ids: acquired,
        first: first.toString(),
        last: last.toString(),
        failed,
        cpu_s: (used.user + used.system) / 1e6,
        statements: { ...statements.counts },
        acquire_statement_ms: { p50: round(acq.p50, 3), p99: round(acq.p99, 3) },
      },
    });
    await w.close();
    process.exit(0);
  });
  process.send({ ready: true });
}

async function main() {
  build();
  const otherLoad = await baselineBusy();
  const { connect } = require('@nats-io/transport-node');
  const db = await createBenchDb('acquire');
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const cpu = cpuMeter();
  const results = {};
  try {
    const c = await pgClient(db.url);
    // Dropping the database on a failure ends this connection too: keep the first error.
    c.on('error', () => undefined);
    const fx = await seedFixtures(c);
    if (WHAT_IF) await c.query(`DROP INDEX idx_chats_pending_since`);
    const pgCpu = pgBackendCpu(c, db.name);
    const nc = await connect({ servers: [NATS_URL] });
    for (const variant of VARIANTS) {
      const rates = [];
      const details = [];
      cpu();
      for (let r = 0; r < RUNS; r++) {
        await c.query('TRUNCATE chats, event_outbox CASCADE');
        await c.query(
          `INSERT INTO chats (owner_id, organization_id, last_model_config_id, status, updated_at)
           SELECT $1, $2, $3, 'waiting', now() + g * interval '1 microsecond' FROM generate_series(1, $4::int) g`,
          [fx.ownerId, fx.orgId, fx.modelId, CHATS],
        );
        await c.query('VACUUM ANALYZE chats');
        await c.query('CHECKPOINT');
        const kids = [];
        for (let i = 0; i < WORKERS; i++) {
          const k = fork(fileURLToPath(import.meta.url), ['worker'], {
            env: { ...process.env, CHATD_BENCH_WORKER: JSON.stringify({ url: db.url, prefix, variant }) },
          });
          kids.push(k);
          await new Promise((res, rej) => {
            k.once('message', res);
            k.once('exit', (code, signal) => rej(new Error(`worker exited with ${code ?? signal}`)));
          });
        }
        const progress = new Array(WORKERS).fill(0);
        kids.forEach((k, i) =>
          k.on('message', (m) => {
            if (m.progress !== undefined) progress[i] = m.progress;
          }),
        );
        await pgCpu.start();
        const busyBefore = cpu();
        await c.query(`UPDATE chats SET status = 'pending' WHERE status = 'waiting'`);
        const t0 = process.hrtime.bigint();
        nc.publish(`${prefix}.chatd.wake`, new TextEncoder().encode(JSON.stringify({ v: 1 })));
        const wal0 = await walLsn(c);
        const deadline = Date.now() + TIMEOUT_MS;
        while (progress.reduce((a, b) => a + b, 0) < CHATS && Date.now() < deadline) await sleep(50);
        const load = cpu();
        const pgCpuMs = await pgCpu.stop();
        const wal = await walBytes(c, wal0);
        const done = await Promise.all(
          kids.map(
            (k) =>
              new Promise((res, rej) => {
                k.on('message', (m) => m.finished && res(m.finished));
                k.once('exit', (code, signal) =>
                  rej(new Error(`worker exited with ${code ?? signal} before reporting`)),
                );
                if (k.exitCode !== null) rej(new Error(`worker exited with ${k.exitCode} before reporting`));
                else k.send({ cmd: 'stop' });
              }),
          ),
        );
        await Promise.all(
          kids.map((k) => (k.exitCode === null ? new Promise((res) => k.once('exit', res)) : 0)),
        );
        const total = done.reduce((a, d) => a + d.n, 0);
        const unique = new Set(done.flatMap((d) => d.ids)).size;
        const tEnd = done.reduce((a, d) => (BigInt(d.last) > a ? BigInt(d.last) : a), 0n);
        const secs = Number(tEnd - t0) / 1e9;
        const rate = total / secs;
        const acquireStatements = done.reduce((a, d) => a + (d.statements.acquire ?? 0), 0);
        const left = (
          await c.query(`SELECT status::text, count(*)::int AS n FROM chats GROUP BY 1 ORDER BY 1`)
        ).rows;
        rates.push(rate);
        details.push({
          acquired: total,
          unique,
          secs: round(secs, 3),
          per_worker: done.map((d) => d.n),
          acquire_statements: acquireStatements,
          chats_per_acquire_statement: round(total / acquireStatements, 2),
          acquire_statement_ms_p50_p99: done.map((d) => [
            d.acquire_statement_ms.p50,
            d.acquire_statement_ms.p99,
          ]),
          not_applied: done.reduce((a, d) => a + d.failed, 0),
          worker_cpu_s: done.map((d) => round(d.cpu_s, 2)),
          pg_backend_cpu_ms_per_1000_chats: round((1000 * pgCpuMs) / total, 0),
          statements_per_chat: round(
            done.reduce((a, d) => a + Object.values(d.statements).reduce((x, y) => x + y, 0), 0) / total,
            2,
          ),
          wal_bytes_per_chat_cluster_wide: Math.round(wal / CHATS),
          status_after: Object.fromEntries(left.map((x) => [x.status, x.n])),
          busy_pct: load.busy_pct,
          steal_pct: load.steal_pct,
        });
        console.error(
          `${variant} run ${r}: ${total} acquired (${unique} unique) in ${secs.toFixed(2)} s = ${rate.toFixed(0)}/s;` +
            ` ${acquireStatements} acquire statements (${(total / acquireStatements).toFixed(2)} chats each);` +
            ` WAL ${Math.round(wal / CHATS)} B/chat; per worker ${done.map((d) => d.n).join('/')} (cpu ${done.map((d) => d.cpu_s.toFixed(1)).join('/')} s); Postgres backends ${Math.round((1000 * pgCpuMs) / total)} ms CPU per 1,000 chats; statuses after ${JSON.stringify(details.at(-1).status_after)};` +
            ` cpu busy ${load.busy_pct}% steal ${load.steal_pct}% (before: busy ${busyBefore.busy_pct}%)`,
        );
        if (unique !== total) throw new Error(`${total - unique} chats were acquired twice`);
        if (total !== CHATS) throw new Error(`only ${total} of ${CHATS} chats acquired`);
      }
      results[variant] = {
        runs: RUNS,
        chats: CHATS,
        workers: WORKERS,
        chats_per_s_median: round(median(rates), 0),
        chats_per_s_min: round(Math.min(...rates), 0),
        chats_per_s_max: round(Math.max(...rates), 0),
        pg_backend_cpu_ms_per_1000_chats_median: round(
          median(details.map((d) => d.pg_backend_cpu_ms_per_1000_chats)),
          0,
        ),
        per_run: details,
      };
    }
    await nc.close();
    await c.end();
  } finally {
    await db.drop();
    await deleteStreams(prefix).catch(() => undefined);
  }
  await writeResult(WHAT_IF ? 'chatd-acquire-whatif' : 'chatd-acquire', {
    what: `chats acquired per second by ${WORKERS} worker processes draining ${CHATS} pending chats`,
    ...(WHAT_IF
      ? { what_if: 'schema changed in the scratch db: idx_chats_pending_since dropped (plan before it)' }
      : {}),
    engine: { maxChats: 50, acquireBatch: 10, pollIntervalMs: 1000, ...ENGINE, poolSize: POOL_SIZE },
    other_load_busy_pct_before: otherLoad,
    results,
  });
}

if (process.argv[2] === 'worker') await worker();
else await main();
