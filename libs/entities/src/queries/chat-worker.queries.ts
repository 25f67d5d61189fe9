// The worker's hot statements on `chats`: acquire, the centralized heartbeat and stale
// recovery. Each is one statement; acquire and recovery lock with SKIP LOCKED so any number
// of replicas run them concurrently without blocking each other.
import type { Db } from './users.queries';
import { queryRows } from '@agentmesh/db';

/**
 * The worker id a manual title regeneration writes on an idle chat while it runs (the
 * reference's lock marker). It is no worker: recovery leaves such chats alone, and the lock
 * counts as released once its heartbeat is a minute old.
 */
export const TITLE_LOCK_WORKER_ID = '00000000-0000-0000-0000-000000000001';

export interface AcquiredChat {
  id: string;
  owner_id: string;
  organization_id: string;
  last_model_config_id: string;
  updated_at: Date;
  /** When this acquisition started the turn: identifies the turn in control signals. */
  started_at: Date;
}

/**
 * Claims up to `limit` pending chats for `workerId`, oldest first: status running, worker
 * set, started/heartbeat/updated stamped. Rows another worker is claiming are skipped.
 */
export async function acquireChats(
  db: Db,
  workerId: string,
  limit: number,
  exclude: readonly string[] = [],
): Promise<AcquiredChat[]> {
  if (limit <= 0) return [];
  // `pending_since` is updated_at of a pending, unarchived chat (NULL otherwise) and has a
  // partial index (migration ChatAcquireIndex): the scan reads the oldest `limit` pending
  // chats in index order, not every pending chat plus a sort. The status and archived tests
  // stay for the row that is locked (re-checked on its latest version).
  // `exclude`: chats whose previous turn is still winding down on this worker (an edit can
  // make a chat pending again before its aborted turn has settled); they wait for the next try.
  const text = `UPDATE chats c
        SET status = 'running', worker_id = $1, started_at = now(), heartbeat_at = now(), updated_at = now()
      WHERE c.id IN (
              SELECT id FROM chats
               WHERE pending_since IS NOT NULL AND status = 'pending' AND NOT archived
                 AND id <> ALL($3::uuid[])
               ORDER BY pending_since
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
      RETURNING c.id, c.owner_id, c.organization_id, c.last_model_config_id, c.updated_at, c.started_at`;
  const values = [workerId, limit, exclude];
  // On a DataSource (the engine's call; never inside a transaction), a named statement on
  // node-postgres's pool, which TypeORM cannot send: parsed and planned once per connection
  // instead of on every call (0.22 instead of 0.55 ms alone, about a third less Postgres CPU
  // per acquisition; docs/benchmarks.md). An EntityManager keeps its transaction's connection.
  type NamedQuery = (q: {
    name: string;
    text: string;
    values: unknown[];
  }) => Promise<{ rows: AcquiredChat[] }>;
  const pool = (db as { driver?: { master?: { query?: NamedQuery } } }).driver?.master;
  if (typeof pool?.query === 'function')
    return (await pool.query({ name: 'agentmesh_acquire_chats', text, values })).rows;
  return queryRows<AcquiredChat>(db, text, values);
}

/**
 * One heartbeat statement for every chat a replica runs. Returns the ids still owned; a
 * registered id missing from the result was interrupted, edited or stolen.
 */
export async function heartbeatChats(
  db: Db,
  workerId: string,
  chatIds: readonly string[],
): Promise<string[]> {
  if (chatIds.length === 0) return [];
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chats SET heartbeat_at = now()
      WHERE id = ANY($1::uuid[]) AND worker_id = $2 AND status = 'running'
      RETURNING id`,
    [chatIds, workerId],
  );
  return rows.map((r) => r.id);
}

/**
 * Moves running chats whose heartbeat is older than `staleMs` back to pending (worker
 * cleared) so another worker resumes them. Safe from any number of replicas at once.
 */
export async function recoverStaleChats(
  db: Db,
  staleMs: number,
  limit = 100,
): Promise<{ id: string; owner_id: string; previous_worker_id: string | null }[]> {
  return queryRows(
    db,
    `WITH stale AS (
       SELECT id, worker_id FROM chats
        WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY heartbeat_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
     UPDATE chats c SET status = 'pending', worker_id = NULL, updated_at = now()
       FROM stale WHERE c.id = stale.id
     RETURNING c.id, c.owner_id, stale.worker_id AS previous_worker_id`,
    [staleMs, limit],
  );
}

/** Hands every chat still running under `workerId` back to pending (graceful shutdown). */
export async function releaseChats(db: Db, workerId: string): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chats SET status = 'pending', worker_id = NULL, updated_at = now()
      WHERE worker_id = $1 AND status = 'running'
      RETURNING id`,
    [workerId],
  );
  return rows.map((r) => r.id);
}

/**
 * Interrupted chats whose worker never finished them: status waiting (an interrupt keeps the
 * worker id so the worker can save its partial answer and promote the queue) with a heartbeat
 * older than `staleMs`. Recovery finishes them on the dead worker's behalf.
 */
export async function findAbandonedWaitingChats(
  db: Db,
  staleMs: number,
  limit = 100,
): Promise<{ id: string; worker_id: string }[]> {
  return db.query(
    `SELECT id, worker_id FROM chats
      WHERE status = 'waiting' AND worker_id IS NOT NULL AND worker_id <> '${TITLE_LOCK_WORKER_ID}'
        AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1::double precision / 1000))
      LIMIT $2`,
    [staleMs, limit],
  );
}
