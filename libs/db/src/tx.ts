// Transaction helpers. `inTransaction` retries serialization failures and deadlocks, which
// Postgres asks callers to retry; any other error rolls back and propagates.
import { DataSource, EntityManager } from 'typeorm';
import { lockId, LockName } from './lock-ids';

type Isolation = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';
const RETRYABLE = new Set(['40001', '40P01']);

export async function inTransaction<T>(
  ds: DataSource,
  fn: (em: EntityManager) => Promise<T>,
  opts: { isolation?: Isolation; retries?: number } = {},
): Promise<T> {
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      // READ COMMITTED is the server default: naming it would cost an extra SET per transaction.
      return await (opts.isolation && opts.isolation !== 'READ COMMITTED'
        ? ds.transaction(opts.isolation, fn)
        : ds.transaction(fn));
    } catch (e) {
      const code = pgErrorCode(e);
      if (attempt < retries && code && RETRYABLE.has(code)) continue;
      throw e;
    }
  }
}

/** Takes a transaction-scoped advisory lock, waiting for it. */
export async function advisoryXactLock(em: EntityManager, name: LockName): Promise<void> {
  await em.query('SELECT pg_advisory_xact_lock($1)', [lockId(name)]);
}

/** Tries a transaction-scoped advisory lock; false when another session holds it. */
export async function tryAdvisoryXactLock(em: EntityManager, name: LockName): Promise<boolean> {
  const rows = await em.query('SELECT pg_try_advisory_xact_lock($1) AS ok', [lockId(name)]);
  return rows[0].ok === true;
}

/** The SQLSTATE of a node-postgres error (possibly wrapped by TypeORM), if any. */
export function pgErrorCode(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } };
  const code = err?.driverError?.code ?? err?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_TEXT =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|timeout exceeded when trying to connect|the database system is (starting|shutting) up/i;

/**
 * True when an error says the database could not be reached or dropped the connection
 * (connection exceptions, admin shutdown, too many connections, a pool timeout), as opposed
 * to an error of the statement itself: waiting and retrying can help.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  const code = pgErrorCode(e);
  if (code) return code.startsWith('08') || UNAVAILABLE_CODES.has(code);
  const err = e as { message?: unknown; code?: unknown };
  return UNAVAILABLE_TEXT.test(`${String(err?.code ?? '')} ${String(err?.message ?? '')}`);
}

/** Name of the violated constraint for unique/foreign-key violations. */
export function pgConstraint(e: unknown): string | undefined {
  const err = e as { constraint?: unknown; driverError?: { constraint?: unknown } };
  const c = err?.driverError?.constraint ?? err?.constraint;
  return typeof c === 'string' ? c : undefined;
}

export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

/**
 * Rows of a raw query whatever the statement: TypeORM's postgres driver returns
 * `[rows, affected]` for UPDATE/DELETE … RETURNING but plain rows for SELECT/INSERT.
 */
export async function queryRows<T>(
  db: Pick<EntityManager, 'query'>,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const res = await db.query(sql, params);
  return Array.isArray(res) && res.length === 2 && Array.isArray(res[0]) && typeof res[1] === 'number'
    ? (res[0] as T[])
    : (res as T[]);
}
