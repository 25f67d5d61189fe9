// The AI Bridge list counts kept by triggers (migration AibridgeInitiatorStats): after any mix
// of inserts (in flight and already complete), ends, duplicate ends and deletes, the per-
// initiator counts and the session pairs equal a recount over the rows, and two concurrent
// transactions completing the first interceptions of the same new session count it once.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { useTestDatabase } from '@agentmesh/testing';

const db = useTestDatabase();
let pg: Client;

beforeAll(async () => {
  pg = new Client({ connectionString: db.url });
  await pg.connect();
});
afterAll(async () => {
  await pg?.end();
});

async function insert(
  c: Client,
  rows: { id?: string; initiator: string; session?: string; root?: string; ended?: boolean }[],
): Promise<string[]> {
  const ids = rows.map((r) => r.id ?? randomUUID());
  await c.query(
    `INSERT INTO aibridge_interceptions (id, initiator_id, provider, provider_name, model, started_at, ended_at,
        client_session_id, thread_root_id)
     SELECT id, initiator, 'openai', 'openai', 'gpt-5', now(), CASE WHEN ended THEN now() END, session, root
       FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::text[], $5::uuid[])
         AS t(id, initiator, ended, session, root)`,
    [
      ids,
      rows.map((r) => r.initiator),
      rows.map((r) => r.ended ?? false),
      rows.map((r) => r.session ?? null),
      rows.map((r) => r.root ?? null),
    ],
  );
  return ids;
}

/** The kept counts of one initiator. */
async function statsOf(initiator: string): Promise<unknown[]> {
  const { rows } = await pg.query(
    `SELECT interceptions::int, sessions::int FROM aibridge_initiator_stats WHERE initiator_id = $1`,
    [initiator],
  );
  return rows;
}

async function end(c: Client, ids: string[]): Promise<void> {
  await c.query(
    `UPDATE aibridge_interceptions SET ended_at = now() WHERE id = ANY($1) AND ended_at IS NULL`,
    [ids],
  );
}

/** The kept counts and a recount over the rows, side by side. */
async function keptAndRecounted(): Promise<{ kept: unknown[]; recount: unknown[]; pairs: unknown[][] }> {
  const kept = (
    await pg.query(
      `SELECT initiator_id, interceptions::int, sessions::int FROM aibridge_initiator_stats
        WHERE interceptions > 0 OR sessions > 0 ORDER BY initiator_id`,
    )
  ).rows;
  const recount = (
    await pg.query(
      `SELECT initiator_id, count(*)::int AS interceptions, count(DISTINCT session_id)::int AS sessions
         FROM aibridge_interceptions WHERE ended_at IS NOT NULL GROUP BY initiator_id ORDER BY initiator_id`,
    )
  ).rows;
  const pairs = [
    (await pg.query(`SELECT session_id, initiator_id FROM aibridge_sessions ORDER BY 1, 2`)).rows,
    (
      await pg.query(
        `SELECT DISTINCT session_id, initiator_id FROM aibridge_interceptions WHERE ended_at IS NOT NULL ORDER BY 1, 2`,
      )
    ).rows,
  ];
  return { kept, recount, pairs };
}

it('counts match a recount after inserts, ends, repeated ends and deletes', async () => {
  const [alice, bob] = [randomUUID(), randomUUID()];
  const roots = await insert(pg, [
    { initiator: alice },
    { initiator: alice, session: 'cs-1' },
    { initiator: bob, session: 'cs-1', ended: true },
    { initiator: bob, ended: true },
  ]);
  const children = await insert(pg, [
    { initiator: alice, root: roots[0] },
    { initiator: alice, root: roots[0] },
    { initiator: alice, session: 'cs-1' },
  ]);
  await end(pg, [roots[0], children[0]]);
  await end(pg, [roots[0], children[1], roots[1]]);
  let state = await keptAndRecounted();
  expect(state.kept).toEqual(state.recount);
  expect(state.pairs[0]).toEqual(state.pairs[1]);
  expect(state.kept).toContainEqual({ initiator_id: alice, interceptions: 4, sessions: 2 });

  // Deleting part of a session keeps the pair; deleting the rest drops it.
  await pg.query(`DELETE FROM aibridge_interceptions WHERE id = ANY($1)`, [[children[0], children[2]]]);
  state = await keptAndRecounted();
  expect(state.kept).toEqual(state.recount);
  await pg.query(`DELETE FROM aibridge_interceptions WHERE id = ANY($1)`, [[roots[0], children[1]]]);
  state = await keptAndRecounted();
  expect(state.kept).toEqual(state.recount);
  expect(state.pairs[0]).toEqual(state.pairs[1]);
  expect(state.kept).toContainEqual({ initiator_id: alice, interceptions: 1, sessions: 1 });
});

it('two transactions completing the first interceptions of one new session count it once', async () => {
  const user = randomUUID();
  const [a, b] = await insert(pg, [
    { initiator: user, session: 'cs-race' },
    { initiator: user, session: 'cs-race' },
  ]);
  const other = new Client({ connectionString: db.url });
  await other.connect();
  try {
    await pg.query('BEGIN');
    await other.query('BEGIN');
    await end(pg, [a]);
    // Waits on the first transaction's new pair, then finds it taken.
    const second = end(other, [b]).then(() => other.query('COMMIT'));
    await new Promise((r) => setTimeout(r, 200));
    await pg.query('COMMIT');
    await second;
  } finally {
    await other.end();
  }
  expect(await statsOf(user)).toEqual([{ interceptions: 2, sessions: 1 }]);
});

it('two transactions deleting the last two rows of a session pair drop the pair once', async () => {
  const user = randomUUID();
  const [a, b] = await insert(pg, [
    { initiator: user, session: 'cs-purge', ended: true },
    { initiator: user, session: 'cs-purge', ended: true },
  ]);
  const other = new Client({ connectionString: db.url });
  await other.connect();
  try {
    await pg.query('BEGIN');
    await other.query('BEGIN');
    await pg.query(`DELETE FROM aibridge_interceptions WHERE id = $1`, [a]);
    // Waits on the first delete's locks, then sees the pair has nothing left.
    const second = other
      .query(`DELETE FROM aibridge_interceptions WHERE id = $1`, [b])
      .then(() => other.query('COMMIT'));
    await new Promise((r) => setTimeout(r, 200));
    await pg.query('COMMIT');
    await second;
  } finally {
    await other.end();
  }
  expect(await statsOf(user)).toEqual([{ interceptions: 0, sessions: 0 }]);
  const pairs = await pg.query(`SELECT 1 FROM aibridge_sessions WHERE session_id = 'cs-purge'`);
  expect(pairs.rows).toEqual([]);
});
