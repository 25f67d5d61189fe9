// The engine's acquire statement alone (the exact text of acquireChats from dist/, LIMIT 10),
// on one connection, against PENDING pending chats (the rest of the 20,000 chats waiting):
// sent as the engine sends it through TypeORM (unnamed: parsed and planned every time) and as
// a named prepared statement; then the same with the what-if index
// `INDEX (updated_at) WHERE status = 'pending'` (the shape of shared/bench-floors/pg_acquire.js).
// Each execution runs in a transaction that is rolled back, so the pending set stays the same.
// Shows how the statement's cost grows with the pending set and what parsing/planning costs.
// Usage: node bench/chatd-acquire-statement.mjs   (env: N=200 PENDING=1,100,1000,10000,20000)
import { randomUUID } from 'node:crypto';
import {
  baselineBusy,
  build,
  createBenchDb,
  dist,
  insertChats,
  pgClient,
  round,
  seedFixtures,
  stats,
  writeResult,
} from './chatd-common.mjs';

const N = Number(process.env.N ?? 200);
const PENDING = (process.env.PENDING ?? '1,100,1000,10000,20000').split(',').map(Number);
const TOTAL = Math.max(20_000, ...PENDING);

build();
const otherLoad = await baselineBusy();
const { acquireChats } = dist('libs/entities/src/queries/chat-worker.queries.js');
let text;
await acquireChats(
  {
    query: async (sql) => {
      text = sql;
      return [];
    },
  },
  randomUUID(),
  10,
);
const db = await createBenchDb('acqstmt');
const results = {};
try {
  const c = await pgClient(db.url);
  const fx = await seedFixtures(c);
  await insertChats(c, fx, TOTAL, 'waiting');
  const workerId = randomUUID();
  for (const index of [false, true]) {
    if (index)
      await c.query(
        `CREATE INDEX bench_whatif_pending_updated_at ON chats (updated_at) WHERE status = 'pending'`,
      );
    for (const pending of PENDING) {
      await c.query(`UPDATE chats SET status = 'waiting' WHERE status <> 'waiting'`);
      await c.query(
        `UPDATE chats SET status = 'pending' WHERE id IN (SELECT id FROM chats ORDER BY updated_at LIMIT $1)`,
        [pending],
      );
      await c.query('VACUUM ANALYZE chats');
      for (const named of [false, true]) {
        const q = named
          ? { name: `acq_${index}_${pending}`, text, values: [workerId, 10] }
          : { text, values: [workerId, 10] };
        const t = [];
        for (let i = 0; i < N + 10; i++) {
          await c.query('BEGIN');
          const a = performance.now();
          const r = await c.query(q);
          const ms = performance.now() - a;
          await c.query('ROLLBACK');
          if (r.rowCount !== Math.min(10, pending)) throw new Error(`acquired ${r.rowCount}`);
          if (i >= 10) t.push(ms);
        }
        const s = stats(t);
        const key = `${index ? 'whatif_index' : 'shipped_schema'} ${named ? 'named_prepared' : 'unnamed'}`;
        (results[key] ??= {})[pending] = { p50_ms: round(s.p50, 3), p99_ms: round(s.p99, 3) };
        console.error(`${key} pending=${pending}: p50 ${s.p50.toFixed(3)} ms p99 ${s.p99.toFixed(3)} ms`);
      }
    }
  }
  await c.end();
} finally {
  await db.drop();
}
await writeResult('chatd-acquire-statement', {
  what: 'acquireChats statement (LIMIT 10) alone, one connection, rolled back; by pending set size',
  n_per_case: N,
  other_load_busy_pct_before: otherLoad,
  results,
});
