import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { useTestDatabase } from '@agentmesh/testing';
import { Ciphers, encryptWithKey } from './cipher';
import { EncryptionKey, parseKeys } from './keys';
import { KEY_TEST_PLAINTEXT, KeyStoreError, syncKeys } from './key-store';
import { pgQueryable, Queryable } from './queryable';

const newKey = () => randomBytes(32).toString('base64');
const ciphersOf = (...keys: string[]) => new Ciphers(parseKeys(keys.join(',')));

describe('syncKeys', () => {
  const db = useTestDatabase();
  let client: Client;
  let q: Queryable;

  // A connection per test: it must be closed before the suite's database is dropped.
  beforeEach(async () => {
    client = new Client({ connectionString: db.url });
    await client.connect();
    q = pgQueryable(client);
    await client.query('DELETE FROM dbcrypt_keys');
  });
  afterEach(() => client.end());

  const keyRows = async () =>
    (
      await client.query(
        'SELECT active_key_digest, revoked_key_digest, test FROM dbcrypt_keys ORDER BY number',
      )
    ).rows as {
      active_key_digest: string | null;
      revoked_key_digest: string | null;
      test: string;
    }[];

  async function syncError(ciphers: Ciphers): Promise<KeyStoreError> {
    const e = await syncKeys(q, ciphers).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!(e instanceof KeyStoreError)) throw new Error(`expected a KeyStoreError, got ${String(e)}`);
    return e;
  }

  it('registers every configured key with a test value that decrypts to "coder" under that key', async () => {
    const ciphers = ciphersOf(newKey(), newKey());
    const result = await syncKeys(q, ciphers);
    expect(result).toEqual({ inserted: ciphers.keys.map((k) => k.digest), unconfigured: [] });
    const rows = await keyRows();
    expect(rows.map((r) => r.active_key_digest)).toEqual(ciphers.keys.map((k) => k.digest));
    for (const row of rows) expect(ciphers.decrypt(row.test, row.active_key_digest)).toBe(KEY_TEST_PLAINTEXT);
  });

  it('is idempotent: a second boot inserts nothing', async () => {
    const ciphers = ciphersOf(newKey());
    await syncKeys(q, ciphers);
    expect((await syncKeys(q, ciphers)).inserted).toEqual([]);
    expect(await keyRows()).toHaveLength(1);
  });

  it('lets replicas boot at the same time: each key is registered once', async () => {
    const ciphers = ciphersOf(newKey(), newKey());
    const others = await Promise.all([0, 1, 2].map(() => new Client({ connectionString: db.url })));
    await Promise.all(others.map((c) => c.connect()));
    try {
      const results = await Promise.all(others.map((c) => syncKeys(pgQueryable(c), ciphers)));
      expect(results.flatMap((r) => r.inserted).sort()).toEqual(ciphers.keys.map((k) => k.digest).sort());
    } finally {
      await Promise.all(others.map((c) => c.end()));
    }
    expect(await keyRows()).toHaveLength(2);
  });

  it('works on a TypeORM DataSource, whose query() fits Queryable', async () => {
    const ds: Queryable = await db.dataSource();
    await syncKeys(ds, ciphersOf(newKey()));
    expect(await keyRows()).toHaveLength(1);
  });

  it('refuses to start when the database has active keys and none is configured, naming their ids only', async () => {
    const old = newKey();
    const oldCiphers = ciphersOf(old);
    await syncKeys(q, oldCiphers);
    const replacement = newKey();
    for (const ciphers of [ciphersOf(replacement), new Ciphers([])]) {
      const e = await syncError(ciphers);
      expect(e.code).toBe('unconfigured_keys');
      expect(e.keyIds).toEqual([oldCiphers.primaryKeyId]);
      expect(e.message).toContain(oldCiphers.primaryKeyId);
      expect(e.message).not.toContain(old);
      expect(e.message).not.toContain(replacement);
    }
    expect(await keyRows()).toHaveLength(1);
  });

  it('starts when at least one active key is configured, reporting the unconfigured ones', async () => {
    const [a, c] = [ciphersOf(newKey()), ciphersOf(newKey())];
    await syncKeys(q, a);
    await syncKeys(q, new Ciphers([...c.keys, ...a.keys]));
    expect(await syncKeys(q, a)).toEqual({ inserted: [], unconfigured: [c.primaryKeyId] });
  });

  it('refuses a configured key whose id is registered for a different key (test value mismatch), registering nothing', async () => {
    const configured = ciphersOf(newKey(), newKey());
    const digest = configured.keys[0].digest;
    const impostor: EncryptionKey = { ...parseKeys(newKey())[0], digest };
    await client.query('INSERT INTO dbcrypt_keys (active_key_digest, test) VALUES ($1, $2)', [
      digest,
      encryptWithKey(impostor, KEY_TEST_PLAINTEXT),
    ]);
    const e = await syncError(configured);
    expect(e.code).toBe('key_mismatch');
    expect(e.keyIds).toEqual([digest]);
    expect(e.message).toContain(digest);
    expect(await keyRows()).toHaveLength(1);
  });

  it('refuses a revoked primary key but tolerates a revoked secondary', async () => {
    const [oldKey, newer] = [newKey(), newKey()];
    const old = ciphersOf(oldKey);
    await syncKeys(q, ciphersOf(newer, oldKey));
    await client.query(
      'UPDATE dbcrypt_keys SET revoked_key_digest = active_key_digest, active_key_digest = NULL, revoked_at = now() WHERE active_key_digest = $1',
      [old.primaryKeyId],
    );
    expect((await syncKeys(q, ciphersOf(newer, oldKey))).inserted).toEqual([]);
    const e = await syncError(ciphersOf(oldKey, newer));
    expect(e.code).toBe('primary_revoked');
    expect(e.keyIds).toEqual([old.primaryKeyId]);
  });
});
