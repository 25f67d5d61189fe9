// Bulk rewrites of encrypted columns: `rotate` re-encrypts every value with the primary key,
// `decryptAll` turns every value back into plaintext. Both then revoke the keys no row uses
// any more. Work happens in short batches (rows locked FOR UPDATE SKIP LOCKED, one
// transaction each) so the app keeps running; a crashed run simply restarts, because a row
// is only picked while its key id differs from the target.
import { Ciphers, DecryptError } from './cipher';
import { EncryptedColumn, quoteIdent } from './encrypted-columns';
import { syncKeys } from './key-store';
import { Session } from './queryable';

export interface RewriteOptions {
  /** Advisory lock id held for the whole run; the caller's lock registry owns the number. */
  lockId: bigint | string;
  /** Rows per transaction (default 500). */
  batchSize?: number;
}

export interface ColumnCount {
  table: string;
  column: string;
  /** Rows rewritten by this run. */
  rewritten: number;
}

export interface RewriteReport {
  columns: ColumnCount[];
  /** Keys revoked by this run (no row references them any more). */
  revokedKeys: string[];
  /**
   * Old keys still referenced after the run: rows that were locked by the app during the run,
   * or written since with an old key. Running again finishes the job.
   */
  keysInUse: string[];
}

const DEFAULT_BATCH_SIZE = 500;
const PG_FOREIGN_KEY_VIOLATION = '23503';

/** Re-encrypts every value whose key id is not the primary's (plaintext included). */
export async function rotate(
  session: Session,
  ciphers: Ciphers,
  columns: readonly EncryptedColumn[],
  options: RewriteOptions,
): Promise<RewriteReport> {
  const primary = ciphers.primaryKeyId;
  if (primary == null)
    throw new Error('rotation needs an encryption key: put the new key first in AGENTMESH_ENCRYPTION_KEYS');
  return withAdvisoryLock(session, options.lockId, async () => {
    // Registers the new primary (the key id columns reference it) and proves every key matches.
    await syncKeys(session, ciphers);
    return rewrite(session, ciphers, columns, primary, options);
  });
}

/** Rewrites every value as plaintext (key id NULL) and revokes every key. */
export async function decryptAll(
  session: Session,
  ciphers: Ciphers,
  columns: readonly EncryptedColumn[],
  options: RewriteOptions,
): Promise<RewriteReport> {
  return withAdvisoryLock(session, options.lockId, () => rewrite(session, ciphers, columns, null, options));
}

async function rewrite(
  session: Session,
  ciphers: Ciphers,
  columns: readonly EncryptedColumn[],
  target: string | null,
  options: RewriteOptions,
): Promise<RewriteReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const counts: ColumnCount[] = [];
  for (const c of columns) {
    counts.push({
      table: c.table,
      column: c.column,
      rewritten: await rewriteColumn(session, ciphers, c, target, batchSize),
    });
  }
  const referenced = await referencedKeys(session, columns);
  if (target != null) referenced.add(target);
  const { revoked, blocked } = await revokeAllExcept(session, referenced);
  const keysInUse = [...new Set([...referenced, ...blocked])].filter((d) => d !== target).sort();
  return { columns: counts, revokedKeys: revoked, keysInUse };
}

interface ColumnRow {
  id: unknown;
  value: string | null;
  key_id: string | null;
}

async function rewriteColumn(
  session: Session,
  ciphers: Ciphers,
  c: EncryptedColumn,
  target: string | null,
  batchSize: number,
): Promise<number> {
  const [table, column, keyId, id] = [c.table, c.column, c.keyIdColumn, c.idColumn].map(quoteIdent);
  // A NULL value with a key id still pins that key, so it is picked too and cleared.
  const pick =
    `SELECT ${id} AS id, ${column} AS value, ${keyId} AS key_id FROM ${table} ` +
    `WHERE ${keyId} IS DISTINCT FROM $1 AND (${column} IS NOT NULL OR ${keyId} IS NOT NULL) ` +
    'LIMIT $2 FOR UPDATE SKIP LOCKED';
  const update = `UPDATE ${table} SET ${column} = $2, ${keyId} = $3 WHERE ${id} = $1`;
  let total = 0;
  for (;;) {
    const done = await inTransaction(session, async () => {
      const rows = await session.query<ColumnRow>(pick, [target, batchSize]);
      for (const row of rows) {
        const next =
          row.value == null
            ? { value: null, keyId: null }
            : reseal(ciphers, row.value, row.key_id, target, `${c.table}.${c.column} row ${String(row.id)}`);
        await session.query(update, [row.id, next.value, next.keyId]);
      }
      return rows.length;
    });
    total += done;
    // A short batch means no unlocked row is left to pick.
    if (done < batchSize) return total;
  }
}

function reseal(
  ciphers: Ciphers,
  value: string,
  keyId: string | null,
  target: string | null,
  where: string,
): { value: string; keyId: string | null } {
  let plaintext: string;
  try {
    plaintext = ciphers.decrypt(value, keyId);
  } catch (e) {
    if (e instanceof DecryptError) throw new DecryptError(e.code, e.keyId, `${where}: ${e.message}`);
    throw e;
  }
  return target == null ? { value: plaintext, keyId: null } : ciphers.encrypt(plaintext);
}

async function referencedKeys(session: Session, columns: readonly EncryptedColumn[]): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const c of columns) {
    const [table, keyId] = [c.table, c.keyIdColumn].map(quoteIdent);
    const rows = await session.query<{ key_id: string }>(
      `SELECT DISTINCT ${keyId} AS key_id FROM ${table} WHERE ${keyId} IS NOT NULL`,
    );
    for (const r of rows) keys.add(r.key_id);
  }
  return keys;
}

/**
 * Revokes one key per statement. The key id columns reference active_key_digest, so a row
 * written with an old key after the scan makes its revocation fail with a foreign-key
 * violation; that key simply stays active.
 */
async function revokeAllExcept(
  session: Session,
  keep: ReadonlySet<string>,
): Promise<{ revoked: string[]; blocked: string[] }> {
  const active = await session.query<{ digest: string }>(
    'SELECT active_key_digest AS digest FROM dbcrypt_keys WHERE active_key_digest IS NOT NULL ORDER BY number',
  );
  const revoked: string[] = [];
  const blocked: string[] = [];
  for (const { digest } of active.filter((k) => !keep.has(k.digest))) {
    try {
      await session.query(
        'UPDATE dbcrypt_keys SET revoked_key_digest = active_key_digest, active_key_digest = NULL, revoked_at = now() WHERE active_key_digest = $1',
        [digest],
      );
      revoked.push(digest);
    } catch (e) {
      if ((e as { code?: unknown }).code !== PG_FOREIGN_KEY_VIOLATION) throw e;
      blocked.push(digest);
    }
  }
  return { revoked, blocked };
}

async function inTransaction<T>(session: Session, fn: () => Promise<T>): Promise<T> {
  await session.query('BEGIN');
  try {
    const result = await fn();
    await session.query('COMMIT');
    return result;
  } catch (e) {
    // If ROLLBACK fails the connection is gone, which rolls back anyway; the cause matters more.
    await session.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/** Session-level lock: held across the batch transactions, released on exit or disconnect. */
async function withAdvisoryLock<T>(
  session: Session,
  lockId: bigint | string,
  fn: () => Promise<T>,
): Promise<T> {
  const id = lockId.toString();
  await session.query('SELECT pg_advisory_lock($1)', [id]);
  try {
    return await fn();
  } finally {
    // A failed unlock means the connection is gone, and the lock with it.
    await session.query('SELECT pg_advisory_unlock($1)', [id]).catch(() => undefined);
  }
}
