import { MigrationInterface, QueryRunner } from 'typeorm';

// Exact list counts without counting. The AI Bridge lists return `count` (every completed
// interception, or every (session_id, initiator_id) pair, the caller may see); counting those
// over millions of interceptions takes hundreds of milliseconds however the query is shaped.
// So the counts are kept as rows change:
// - aibridge_sessions: one row per (session_id, initiator_id) pair with a completed
//   interception. Its primary key is what tells that a pair is new, safely across concurrent
//   writers (ON CONFLICT DO NOTHING waits for a concurrent insert of the same pair);
// - aibridge_initiator_stats: per initiator, completed interceptions and session pairs.
// Statement-level triggers with transition tables keep both, set-based (one statement per
// writing statement, not per row), whoever writes: the recorder completing interceptions
// (ended_at NULL → set), rows inserted already complete, and retention deleting rows (a pair
// goes when its last completed interception goes). The counts change in the writer's
// transaction, so a reader's snapshot sees counts that match the rows. The list endpoints use
// them when the only filter is the initiator; other filters count the rows. Completed rows
// never change their session, initiator or end (the recorder only fills a NULL ended_at), so
// updates count only NULL → set. Existing rows are counted here.
export class AibridgeInitiatorStats1764000000003 implements MigrationInterface {
  name = 'AibridgeInitiatorStats1764000000003';

  async up(q: QueryRunner): Promise<void> {
    // Writers wait while the counts are backfilled and the triggers created, so no write falls
    // between the two.
    await q.query(`
      LOCK TABLE aibridge_interceptions IN SHARE ROW EXCLUSIVE MODE;
      CREATE TABLE aibridge_sessions (
        session_id text NOT NULL,
        initiator_id uuid NOT NULL,
        PRIMARY KEY (session_id, initiator_id)
      );
      CREATE TABLE aibridge_initiator_stats (
        initiator_id uuid PRIMARY KEY,
        interceptions bigint NOT NULL DEFAULT 0 CHECK (interceptions >= 0),
        sessions bigint NOT NULL DEFAULT 0 CHECK (sessions >= 0)
      );
      -- Backfill.
      INSERT INTO aibridge_sessions (session_id, initiator_id)
        SELECT DISTINCT session_id, initiator_id FROM aibridge_interceptions WHERE ended_at IS NOT NULL;
      INSERT INTO aibridge_initiator_stats (initiator_id, interceptions, sessions)
        SELECT i.initiator_id, i.n, COALESCE(p.n, 0)
          FROM (SELECT initiator_id, count(*) AS n FROM aibridge_interceptions
                 WHERE ended_at IS NOT NULL GROUP BY initiator_id) i
          LEFT JOIN (SELECT initiator_id, count(*) AS n FROM aibridge_sessions GROUP BY initiator_id) p
            ON p.initiator_id = i.initiator_id;
    `);
    // Pairs and stats rows are written in key order, so concurrent writers lock them in one
    // order.
    await q.query(`
      -- Counts newly completed interceptions, given as parallel arrays of their pairs.
      CREATE FUNCTION aibridge_stats_add(session_ids text[], initiator_ids uuid[]) RETURNS void
      LANGUAGE sql AS $fn$
        WITH completed AS (
          SELECT * FROM unnest(session_ids, initiator_ids) AS t(session_id, initiator_id)),
        new_pairs AS (
          INSERT INTO aibridge_sessions (session_id, initiator_id)
            SELECT DISTINCT session_id, initiator_id FROM completed ORDER BY session_id, initiator_id
          ON CONFLICT DO NOTHING
          RETURNING initiator_id)
        INSERT INTO aibridge_initiator_stats AS s (initiator_id, interceptions, sessions)
          SELECT initiator_id, sum(n_interceptions), sum(n_sessions) FROM (
            SELECT initiator_id, 1 AS n_interceptions, 0 AS n_sessions FROM completed
            UNION ALL SELECT initiator_id, 0, 1 FROM new_pairs) d
           GROUP BY initiator_id ORDER BY initiator_id
        ON CONFLICT (initiator_id) DO UPDATE
          SET interceptions = s.interceptions + excluded.interceptions,
              sessions = s.sessions + excluded.sessions;
      $fn$;

      -- Rows inserted already complete.
      CREATE FUNCTION aibridge_stats_on_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE sessions text[]; initiators uuid[];
      BEGIN
        SELECT array_agg(session_id), array_agg(initiator_id) INTO sessions, initiators
          FROM new_rows WHERE ended_at IS NOT NULL;
        IF sessions IS NOT NULL THEN PERFORM aibridge_stats_add(sessions, initiators); END IF;
        RETURN NULL;
      END;
      $fn$;

      -- Rows whose ended_at was just filled.
      CREATE FUNCTION aibridge_stats_on_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE sessions text[]; initiators uuid[];
      BEGIN
        SELECT array_agg(n.session_id), array_agg(n.initiator_id) INTO sessions, initiators
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE o.ended_at IS NULL AND n.ended_at IS NOT NULL;
        IF sessions IS NOT NULL THEN PERFORM aibridge_stats_add(sessions, initiators); END IF;
        RETURN NULL;
      END;
      $fn$;

      -- Deleted completed rows are subtracted; a pair without completed rows left goes. The
      -- pairs, then the stats rows, are locked in key order first (the order inserts take
      -- them): two deletes of a pair's last rows then run one after the other, and the second
      -- one's NOT EXISTS (a later statement, a newer snapshot) sees what the first deleted.
      CREATE FUNCTION aibridge_stats_on_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        PERFORM 1 FROM aibridge_sessions p
          WHERE (p.session_id, p.initiator_id) IN
                (SELECT session_id, initiator_id FROM old_rows WHERE ended_at IS NOT NULL)
          ORDER BY p.session_id, p.initiator_id FOR UPDATE;
        PERFORM 1 FROM aibridge_initiator_stats s
          WHERE s.initiator_id IN (SELECT initiator_id FROM old_rows WHERE ended_at IS NOT NULL)
          ORDER BY s.initiator_id FOR UPDATE;
        WITH gone AS (SELECT session_id, initiator_id FROM old_rows WHERE ended_at IS NOT NULL),
        emptied AS (
          DELETE FROM aibridge_sessions p
           USING (SELECT DISTINCT session_id, initiator_id FROM gone) g
           WHERE p.session_id = g.session_id AND p.initiator_id = g.initiator_id
             AND NOT EXISTS (SELECT 1 FROM aibridge_interceptions i
                              WHERE i.session_id = p.session_id AND i.initiator_id = p.initiator_id
                                AND i.ended_at IS NOT NULL)
          RETURNING p.initiator_id)
        UPDATE aibridge_initiator_stats s
           SET interceptions = s.interceptions - d.n_interceptions, sessions = s.sessions - d.n_sessions
          FROM (SELECT initiator_id, sum(n_interceptions) AS n_interceptions, sum(n_sessions) AS n_sessions
                  FROM (SELECT initiator_id, 1 AS n_interceptions, 0 AS n_sessions FROM gone
                        UNION ALL SELECT initiator_id, 0, 1 FROM emptied) x
                 GROUP BY initiator_id) d
         WHERE s.initiator_id = d.initiator_id;
        RETURN NULL;
      END;
      $fn$;

      CREATE TRIGGER aibridge_stats_insert AFTER INSERT ON aibridge_interceptions
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aibridge_stats_on_insert();
      CREATE TRIGGER aibridge_stats_update AFTER UPDATE ON aibridge_interceptions
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION aibridge_stats_on_update();
      CREATE TRIGGER aibridge_stats_delete AFTER DELETE ON aibridge_interceptions
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION aibridge_stats_on_delete();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER aibridge_stats_insert ON aibridge_interceptions;
      DROP TRIGGER aibridge_stats_update ON aibridge_interceptions;
      DROP TRIGGER aibridge_stats_delete ON aibridge_interceptions;
      DROP FUNCTION aibridge_stats_on_insert(), aibridge_stats_on_update(), aibridge_stats_on_delete(),
        aibridge_stats_add(text[], uuid[]);
      DROP TABLE aibridge_initiator_stats, aibridge_sessions;
    `);
  }
}
