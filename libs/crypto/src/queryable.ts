// The minimal database surface this lib needs, so it runs on TypeORM (DataSource,
// EntityManager, QueryRunner all have a fitting `query`) or on a bare pg client without
// depending on either ORM or the db lib.
import type { ClientBase } from 'pg';

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * A Queryable pinned to one connection, so BEGIN … COMMIT and session advisory locks span
 * several calls. A pool (e.g. a TypeORM DataSource) is not one: consecutive statements may
 * land on different connections. The brand keeps a pool from being passed by mistake.
 */
export interface Session extends Queryable {
  readonly pinned: true;
}

/** Adapts a node-postgres Client or PoolClient (each is a single connection). */
export function pgQueryable(client: ClientBase): Session {
  return {
    pinned: true,
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      const result = await client.query(sql, params);
      return result.rows as T[];
    },
  };
}
