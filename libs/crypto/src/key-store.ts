// Keeps the dbcrypt_keys table in step with the configured keys at boot: registers new keys,
// proves each configured key is the one its id names, and refuses to run when the database
// holds active keys of which none is configured (everything encrypted would be unreadable).
import { Ciphers, DecryptError, decryptWithKey, encryptWithKey } from './cipher';
import { EncryptionKey } from './keys';
import { Queryable } from './queryable';

/** Encrypted into `dbcrypt_keys.test` with each key; decrypting it proves the key matches. */
export const KEY_TEST_PLAINTEXT = 'coder';

export type KeyStoreErrorCode = 'unconfigured_keys' | 'key_mismatch' | 'primary_revoked';

/** Messages name key ids (digests) only, never key material. */
export class KeyStoreError extends Error {
  constructor(
    readonly code: KeyStoreErrorCode,
    readonly keyIds: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

export interface KeySyncResult {
  /** Key ids registered by this call. */
  inserted: string[];
  /** Active keys in the database that are not configured (rows using them cannot be read). */
  unconfigured: string[];
}

interface KeyRow {
  active_key_digest: string | null;
  revoked_key_digest: string | null;
  test: string;
}

const readKeys = (q: Queryable) =>
  q.query<KeyRow>('SELECT active_key_digest, revoked_key_digest, test FROM dbcrypt_keys ORDER BY number');

/**
 * Safe to run from many replicas at once: inserts are conflict-tolerant, and a key another
 * replica registered meanwhile is checked against the row that replica stored.
 */
export async function syncKeys(q: Queryable, ciphers: Ciphers): Promise<KeySyncResult> {
  const before = await readKeys(q);
  const active = new Set(before.map((r) => r.active_key_digest).filter(isPresent));
  const revoked = new Set(before.map((r) => r.revoked_key_digest).filter(isPresent));
  const configured = new Set(ciphers.keys.map((k) => k.digest));

  const unconfigured = [...active].filter((d) => !configured.has(d));
  if (active.size > 0 && unconfigured.length === active.size) {
    throw new KeyStoreError(
      'unconfigured_keys',
      unconfigured,
      `the database has active encryption key(s) ${unconfigured.join(', ')} and none of them is configured; ` +
        'secrets encrypted with them would be unreadable. Keep the old key in AGENTMESH_ENCRYPTION_KEYS after the new one until rotation revokes it',
    );
  }
  const primary = ciphers.primaryKeyId;
  if (primary != null && revoked.has(primary) && !active.has(primary)) {
    throw new KeyStoreError(
      'primary_revoked',
      [primary],
      `the primary encryption key ${primary} has been revoked; configure a new primary key first in AGENTMESH_ENCRYPTION_KEYS`,
    );
  }

  // Checked before inserting anything, so a wrong key list leaves the table untouched.
  assertKeysMatch(ciphers.keys, before);
  const inserted: string[] = [];
  const raced: EncryptionKey[] = [];
  // Revoked secondaries are left alone: no row may reference them, so they are never needed.
  for (const key of ciphers.keys.filter((k) => !active.has(k.digest) && !revoked.has(k.digest))) {
    const rows = await q.query(
      'INSERT INTO dbcrypt_keys (active_key_digest, test) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING number',
      [key.digest, encryptWithKey(key, KEY_TEST_PLAINTEXT)],
    );
    if (rows.length > 0) inserted.push(key.digest);
    else raced.push(key);
  }
  // Another replica registered these meanwhile; its row must match our key too.
  if (raced.length > 0) assertKeysMatch(raced, await readKeys(q));
  return { inserted, unconfigured };
}

function assertKeysMatch(keys: readonly EncryptionKey[], rows: readonly KeyRow[]): void {
  const tests = new Map<string, string>();
  for (const r of rows) if (r.active_key_digest != null) tests.set(r.active_key_digest, r.test);
  const mismatched = keys
    .filter((k) => {
      const test = tests.get(k.digest);
      return test != null && !opensTest(k, test);
    })
    .map((k) => k.digest);
  if (mismatched.length > 0) {
    throw new KeyStoreError(
      'key_mismatch',
      mismatched,
      `configured encryption key(s) ${mismatched.join(', ')} do not match the key(s) registered under the same id in dbcrypt_keys ` +
        '(the stored test value does not decrypt); check AGENTMESH_ENCRYPTION_KEYS',
    );
  }
}

const isPresent = (s: string | null): s is string => s != null;

function opensTest(key: EncryptionKey, test: string): boolean {
  try {
    return decryptWithKey(key, test) === KEY_TEST_PLAINTEXT;
  } catch (e) {
    if (e instanceof DecryptError) return false;
    throw e;
  }
}
