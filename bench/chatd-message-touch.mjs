// What the pending index costs the writes that touch chats.updated_at: every message insert
// (insertChatMessages, the real function from dist/) also updates its chat's updated_at, on a
// running chat. For three schemas of the chats table:
//   before            no index involving updated_at (idx_chats_pending on status);
//   updated_at_index  what-if: INDEX (updated_at) WHERE status = 'pending' (the floor's shape);
//   shipped           as migrated: the generated column pending_since and its partial index.
// ROWS chats of which RUNNING are running; after one warm-up message per running chat (so the
// post-checkpoint full-page images are out of the way), N one-message inserts on 2
// connections, round robin over the running chats. Measured: the share of HOT updates of
// chats (pg_stat_user_tables), WAL bytes and records of this database per message (pg_walinspect,
// records that touch a block of this database, so other load is not counted; full-page images
// apart, as their number depends on when other sessions checkpoint; a temporary
// replication slot keeps the window's WAL from being recycled meanwhile), CPU of the two
// Postgres backends per message (/proc), messages/s (wall time: blurred by other load).
// Usage: node bench/chatd-message-touch.mjs   (env: N=10000 ROWS=100000 RUNNING=2000 SCHEMAS=…)
import {
  baselineBusy,
  build,
  cpuMeter,
  createBenchDb,
  dist,
  insertChats,
  pgBackendCpu,
  pgClient,
  round,
  seedFixtures,
  sleep,
  writeResult,
} from './chatd-common.mjs';

const N = Number(process.env.N ?? 10_000);
const ROWS = Number(process.env.ROWS ?? 100_000);
const RUNNING = Number(process.env.RUNNING ?? 2000);
const SCHEMAS = (process.env.SCHEMAS ?? 'before,updated_at_index,shipped').split(',');

const SCHEMA_DDL = {
  before: [
    `ALTER TABLE chats DROP COLUMN pending_since`,
    `CREATE INDEX idx_chats_pending ON chats (status) WHERE status = 'pending'`,
  ],
  updated_at_index: [
    `ALTER TABLE chats DROP COLUMN pending_since`,
    `CREATE INDEX idx_chats_pending ON chats (status) WHERE status = 'pending'`,
    `CREATE INDEX bench_whatif_pending_updated_at ON chats (updated_at) WHERE status = 'pending'`,
  ],
  shipped: [],
};

build();
const otherLoad = await baselineBusy();
const { insertChatMessages } = dist('libs/entities/src/queries/chat-messages.queries.js');
const results = {};
for (const schema of SCHEMAS) {
  const db = await createBenchDb('touch');
  const clients = [];
  try {
    const c = await pgClient(db.url);
    clients.push(c);
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    const dbOid = (await c.query(`SELECT oid FROM pg_database WHERE datname = current_database()`)).rows[0]
      .oid;
    const fx = await seedFixtures(c);
    for (const ddl of SCHEMA_DDL[schema]) await c.query(ddl);
    await insertChats(c, fx, ROWS, 'waiting');
    await c.query(
      `UPDATE chats SET status = 'running' WHERE id IN (SELECT id FROM chats ORDER BY random() LIMIT $1)`,
      [RUNNING],
    );
    await c.query('VACUUM ANALYZE chats');
    const ids = (await c.query(`SELECT id FROM chats WHERE status = 'running'`)).rows.map((r) => r.id);
    const conns = [await pgClient(db.url), await pgClient(db.url)];
    clients.push(...conns);
    const dbs = conns.map((k) => ({ query: async (sql, params) => (await k.query(sql, params)).rows }));
    const message = [{ role: 'assistant', content: [{ type: 'text', text: 'ok' }], modelConfigId: null }];
    await c.query('CHECKPOINT');
    for (let i = 0; i < ids.length; i++) await insertChatMessages(dbs[i % 2], ids[i], message);
    const counters = async () => {
      for (const k of [c, ...conns]) await k.query('SELECT pg_stat_force_next_flush()');
      await sleep(600);
      return (
        await c.query(
          `SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'chats'`,
        )
      ).rows[0];
    };
    const st0 = await counters();
    // Other sessions checkpoint often; the slot (dropped with this session) keeps the WAL.
    await c.query(`SELECT pg_create_physical_replication_slot($1, true, true)`, [
      `bench_touch_${process.pid}`,
    ]);
    const lsn0 = (await c.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    const pgCpu = pgBackendCpu(c, db.name);
    await pgCpu.start();
    const cpu = cpuMeter();
    const t0 = performance.now();
    await Promise.all(
      dbs.map(async (d, lane) => {
        for (let i = lane; i < N; i += 2) await insertChatMessages(d, ids[i % ids.length], message);
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const load = cpu();
    const cpuMs = await pgCpu.stop();
    const lsn1 = (await c.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l;
    const st1 = await counters();
    const wal = (
      await c.query(
        `SELECT count(*)::int AS records, coalesce(sum(record_length - fpi_length), 0)::bigint AS bytes,
                coalesce(sum(fpi_length), 0)::bigint AS fpi
           FROM pg_get_wal_records_info($1, $2) WHERE block_ref LIKE $3`,
        [lsn0, lsn1, `%/${dbOid}/%`],
      )
    ).rows[0];
    results[schema] = {
      messages: N,
      messages_per_s: round(N / secs, 0),
      chats_updates: st1.upd - st0.upd,
      hot_update_share: round((st1.hot - st0.hot) / Math.max(1, st1.upd - st0.upd), 3),
      wal_bytes_per_message: round(Number(wal.bytes) / N, 0),
      wal_records_per_message: round(wal.records / N, 1),
      wal_full_page_image_bytes_per_message: round(Number(wal.fpi) / N, 0),
      pg_backend_cpu_us_per_message: round((1000 * cpuMs) / N, 0),
      busy_pct: load.busy_pct,
      steal_pct: load.steal_pct,
    };
    console.error(`${schema}: ${JSON.stringify(results[schema])}`);
  } finally {
    for (const k of clients) await k.end().catch(() => undefined);
    await db.drop();
  }
}
await writeResult('chatd-message-touch', {
  what: `one-message inserts (insertChatMessages, which touches chats.updated_at) on ${RUNNING} running chats of ${ROWS}, 2 connections`,
  other_load_busy_pct_before: otherLoad,
  results,
});
