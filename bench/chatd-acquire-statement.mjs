// The engine's acquire statement alone (LIMIT 10), on one connection, against PENDING pending
// chats (the rest of the 20,000 chats waiting), for three schemas:
//   before            the schema and statement text before migration ChatAcquireIndex
//                     (idx_chats_pending on (status), ORDER BY updated_at);
//   shipped           as migrated now: the exact text of acquireChats from dist/, reading
//                     idx_chats_pending_since (pending chats only, in pending_since order);
//   shipped+status    what-if: shipped plus the old idx_chats_pending (status) kept.
// and two states of the planner statistics: `fresh` (VACUUM ANALYZE after the chats became
// pending) and `stale` (analyzed while none was pending, as after a burst that autovacuum has
// not analyzed yet; autovacuum is off for the table during the bench). Each statement is sent
// unnamed (as TypeORM sends it: parsed and planned every time; the engine did so before) and as
// a named prepared statement (as the engine sends acquireChats now). Each execution runs in a transaction that is rolled back, so the
// pending set stays the same. The plan's top scan is recorded (EXPLAIN).
// Usage: node bench/chatd-acquire-statement.mjs
//   (env: N=200 PENDING=1,100,1000,10000,20000 SCHEMAS=before,shipped,shipped+status STATS=fresh,stale)
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
const SCHEMAS = (process.env.SCHEMAS ?? 'before,shipped,shipped+status').split(',');
const STATS = (process.env.STATS ?? 'fresh,stale').split(',');
const TOTAL = Math.max(20_000, ...PENDING);

// acquireChats as it was before migration ChatAcquireIndex1763900000000.
const BEFORE_TEXT = `UPDATE chats c
        SET status = 'running', worker_id = $1, started_at = now(), heartbeat_at = now(), updated_at = now()
      WHERE c.id IN (
              SELECT id FROM chats
               WHERE status = 'pending' AND NOT archived AND id <> ALL($3::uuid[])
               ORDER BY updated_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
      RETURNING c.id, c.owner_id, c.organization_id, c.last_model_config_id, c.updated_at`;

const SCHEMA_DDL = {
  before: [
    `ALTER TABLE chats DROP COLUMN IF EXISTS pending_since`,
    `CREATE INDEX IF NOT EXISTS idx_chats_pending ON chats (status) WHERE status = 'pending'`,
  ],
  shipped: [],
  'shipped+status': [`CREATE INDEX idx_chats_pending ON chats (status) WHERE status = 'pending'`],
};

build();
const otherLoad = await baselineBusy();
const { acquireChats } = dist('libs/entities/src/queries/chat-worker.queries.js');
let shippedText;
await acquireChats(
  {
    query: async (sql) => {
      shippedText = sql;
      return [];
    },
  },
  randomUUID(),
  10,
);
const results = {};
const plans = {};
for (const schema of SCHEMAS) {
  // A fresh database per schema: `before` drops a column, the others must not inherit that.
  const db = await createBenchDb('acqstmt');
  try {
    const c = await pgClient(db.url);
    const fx = await seedFixtures(c);
    await c.query(`ALTER TABLE chats SET (autovacuum_enabled = false)`);
    for (const ddl of SCHEMA_DDL[schema]) await c.query(ddl);
    await insertChats(c, fx, TOTAL, 'waiting');
    const text = schema === 'before' ? BEFORE_TEXT : shippedText;
    const workerId = randomUUID();
    for (const statsMode of STATS) {
      for (const pending of PENDING) {
        await c.query(`UPDATE chats SET status = 'waiting' WHERE status <> 'waiting'`);
        if (statsMode === 'stale') await c.query('VACUUM ANALYZE chats');
        await c.query(
          `UPDATE chats SET status = 'pending' WHERE id IN (SELECT id FROM chats ORDER BY updated_at LIMIT $1)`,
          [pending],
        );
        if (statsMode === 'fresh') await c.query('VACUUM ANALYZE chats');
        else await c.query('VACUUM chats'); // dead versions gone, statistics left as they were
        const explain = await c.query(`EXPLAIN ${text}`, [workerId, 10, []]);
        const scan = explain.rows
          .map((r) => r['QUERY PLAN'])
          .find((l) => /Scan on chats\b|Scan using \w+ on chats\b/.test(l) && !/chats_pkey/.test(l));
        (plans[`${schema} ${statsMode}`] ??= {})[pending] = scan?.trim().replace(/\s+\(cost.*$/, '');
        for (const named of [false, true]) {
          const q = named
            ? { name: `acq_${statsMode}_${pending}`, text, values: [workerId, 10, []] }
            : { text, values: [workerId, 10, []] };
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
          const key = `${schema} ${statsMode} ${named ? 'named_prepared' : 'unnamed'}`;
          (results[key] ??= {})[pending] = { p50_ms: round(s.p50, 3), p99_ms: round(s.p99, 3) };
          console.error(
            `${key} pending=${pending}: p50 ${s.p50.toFixed(3)} ms p99 ${s.p99.toFixed(3)} ms (${plans[`${schema} ${statsMode}`][pending]})`,
          );
        }
      }
    }
    await c.end();
  } finally {
    await db.drop();
  }
}
await writeResult('chatd-acquire-statement', {
  what: 'acquire statement (LIMIT 10) alone, one connection, rolled back; by schema, statistics and pending set size',
  n_per_case: N,
  other_load_busy_pct_before: otherLoad,
  results,
  plans,
});
