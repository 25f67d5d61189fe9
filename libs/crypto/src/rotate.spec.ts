import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { useTestDatabase } from '@agentmesh/testing';
import { Ciphers, DecryptError } from './cipher';
import { EncryptedColumn } from './encrypted-columns';
import { parseKeys } from './keys';
import { syncKeys } from './key-store';
import { pgQueryable, Session } from './queryable';
import { decryptAll, rotate } from './rotate';

const LOCK_ID = 424242n;
const SECRETS: EncryptedColumn = {
  table: 'secrets',
  column: 'value',
  keyIdColumn: 'value_key_id',
  idColumn: 'id',
};
const newKey = () => randomBytes(32).toString('base64');
const ciphersOf = (...keys: string[]) => new Ciphers(parseKeys(keys.join(',')));

interface SecretRow {
  id: string;
  value: string | null;
  value_key_id: string | null;
}

describe('rotate and decryptAll', () => {
  const db = useTestDatabase();
  let client: Client;
  let session: Session;
  const [keyA, keyB] = [newKey(), newKey()];
  const onlyA = ciphersOf(keyA);
  const bThenA = ciphersOf(keyB, keyA);
  const [digestA, digestB] = [onlyA.primaryKeyId, ciphersOf(keyB).primaryKeyId];

  beforeAll(async () => {
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`CREATE TABLE secrets (
      id uuid PRIMARY KEY,
      value text,
      value_key_id text REFERENCES dbcrypt_keys (active_key_digest)
    )`);
    await admin.end();
  });
  // A connection per test: it must be closed before the suite's database is dropped.
  beforeEach(async () => {
    client = new Client({ connectionString: db.url });
    await client.connect();
    session = pgQueryable(client);
    await client.query('TRUNCATE secrets; DELETE FROM dbcrypt_keys');
  });
  afterEach(() => client.end());

  /** Writes plaintexts as the app would with `ciphers`; returns id → plaintext. */
  async function write(ciphers: Ciphers, plaintexts: string[]): Promise<Map<string, string>> {
    await syncKeys(session, ciphers);
    const written = new Map<string, string>();
    for (const text of plaintexts) {
      const id = randomUUID();
      const enc = ciphers.encrypt(text);
      await client.query('INSERT INTO secrets (id, value, value_key_id) VALUES ($1, $2, $3)', [
        id,
        enc.value,
        enc.keyId,
      ]);
      written.set(id, text);
    }
    return written;
  }

  async function seedPlainAndA(): Promise<Map<string, string>> {
    const plain = await write(new Ciphers([]), ['plain-1', 'plain-2']);
    const underA = await write(onlyA, ['a-1', 'a-2', 'a-3']);
    return new Map([...plain, ...underA]);
  }

  const rows = async () =>
    (await client.query<SecretRow>('SELECT id, value, value_key_id FROM secrets')).rows;
  const keyState = async () =>
    (
      await client.query(
        'SELECT active_key_digest, revoked_key_digest, revoked_at IS NOT NULL AS revoked FROM dbcrypt_keys ORDER BY number',
      )
    ).rows;

  function expectReadable(
    found: SecretRow[],
    expected: Map<string, string>,
    ciphers: Ciphers,
    keyId: string | null,
  ) {
    for (const row of found) {
      expect(row.value_key_id).toBe(keyId);
      expect(ciphers.decrypt(row.value ?? '', row.value_key_id)).toBe(expected.get(row.id));
    }
  }

  it('re-encrypts plaintext and old-key rows with the primary key, in batches, then revokes the old key', async () => {
    const expected = await seedPlainAndA();
    const report = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID, batchSize: 2 });

    expect(report).toEqual({
      columns: [{ table: 'secrets', column: 'value', rewritten: 5 }],
      revokedKeys: [digestA],
      keysInUse: [],
    });
    expectReadable(await rows(), expected, ciphersOf(keyB), digestB);
    expect(await keyState()).toEqual([
      { active_key_digest: null, revoked_key_digest: digestA, revoked: true },
      { active_key_digest: digestB, revoked_key_digest: null, revoked: false },
    ]);
  });

  it('is a no-op when run again', async () => {
    await seedPlainAndA();
    await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    const before = await rows();
    const again = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    expect(again).toEqual({
      columns: [{ table: 'secrets', column: 'value', rewritten: 0 }],
      revokedKeys: [],
      keysInUse: [],
    });
    expect(await rows()).toEqual(before);
  });

  it('leaves NULL values alone and clears a key id that sits on a NULL value', async () => {
    await syncKeys(session, bThenA);
    const [empty, pinned] = [randomUUID(), randomUUID()];
    await client.query('INSERT INTO secrets VALUES ($1, NULL, NULL), ($2, NULL, $3)', [
      empty,
      pinned,
      digestA,
    ]);
    const report = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    expect(report.columns[0].rewritten).toBe(1);
    expect(report.revokedKeys).toEqual([digestA]);
    expect((await rows()).map((r) => r.value_key_id)).toEqual([null, null]);
  });

  it('resumes after a run that died half way: the rerun finishes the job', async () => {
    const expected = await seedPlainAndA();
    // A row under key C, which the first run is not given, stops it mid-way like a crash.
    const keyC = newKey();
    const underC = await write(ciphersOf(keyC, keyA), ['c-1']);
    await expect(rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID, batchSize: 1 })).rejects.toThrow(
      DecryptError,
    );
    const midway = await rows();
    expect(midway.filter((r) => r.value_key_id === digestB).length).toBeLessThan(6);
    expect((await keyState()).every((k) => k.revoked === false)).toBe(true);

    const report = await rotate(session, ciphersOf(keyB, keyA, keyC), [SECRETS], {
      lockId: LOCK_ID,
      batchSize: 1,
    });
    expect(report.keysInUse).toEqual([]);
    expect(report.revokedKeys.sort()).toEqual([digestA, ciphersOf(keyC).primaryKeyId].sort());
    expect(midway.filter((r) => r.value_key_id === digestB).length + report.columns[0].rewritten).toBe(6);
    expectReadable(await rows(), new Map([...expected, ...underC]), ciphersOf(keyB), digestB);
  });

  it('skips rows the app holds locked and keeps their key active until a rerun', async () => {
    const expected = await seedPlainAndA();
    const busyId = [...expected.keys()].find((id) => expected.get(id) === 'a-1');
    const app = new Client({ connectionString: db.url });
    await app.connect();
    try {
      await app.query('BEGIN');
      await app.query('SELECT 1 FROM secrets WHERE id = $1 FOR UPDATE', [busyId]);
      const first = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
      expect(first.columns[0].rewritten).toBe(4);
      expect(first.revokedKeys).toEqual([]);
      expect(first.keysInUse).toEqual([digestA]);
      await app.query('COMMIT');
    } finally {
      await app.end();
    }
    const second = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    expect(second).toEqual({
      columns: [{ table: 'secrets', column: 'value', rewritten: 1 }],
      revokedKeys: [digestA],
      keysInUse: [],
    });
    expectReadable(await rows(), expected, bThenA, digestB);
  });

  it('waits for the advisory lock held by another rotation', async () => {
    await seedPlainAndA();
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [LOCK_ID.toString()]);
      let finished = false;
      const run = rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID }).then((r) => {
        finished = true;
        return r;
      });
      await waitFor(
        async () =>
          (
            await other.query(
              "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
          ).rows[0].n === 1,
      );
      expect(finished).toBe(false);
      // Read through `other`: the session's connection is busy waiting for the lock.
      expect((await other.query('SELECT 1 FROM secrets WHERE value_key_id = $1', [digestB])).rowCount).toBe(
        0,
      );
      await other.query('SELECT pg_advisory_unlock($1)', [LOCK_ID.toString()]);
      expect((await run).columns[0].rewritten).toBe(5);
    } finally {
      await other.end();
    }
  });

  it('keeps a key active when a table missing from the registry still references it (the FK refuses the revoke)', async () => {
    await client.query(
      'CREATE TABLE unregistered (id uuid PRIMARY KEY, key_id text REFERENCES dbcrypt_keys (active_key_digest))',
    );
    try {
      await syncKeys(session, onlyA);
      await client.query('INSERT INTO unregistered VALUES ($1, $2)', [randomUUID(), digestA]);
      const report = await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
      expect(report.revokedKeys).toEqual([]);
      expect(report.keysInUse).toEqual([digestA]);
    } finally {
      await client.query('DROP TABLE unregistered');
    }
  });

  it('refuses to rotate without a key', async () => {
    await expect(rotate(session, new Ciphers([]), [SECRETS], { lockId: LOCK_ID })).rejects.toThrow(
      /needs an encryption key/,
    );
  });

  it('decryptAll rewrites every value as plaintext with a NULL key id and revokes every key; a rerun is a no-op', async () => {
    const expected = await seedPlainAndA();
    await rotate(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    await write(bThenA, ['b-1']).then((m) => m.forEach((v, k) => expected.set(k, v)));

    const report = await decryptAll(session, bThenA, [SECRETS], { lockId: LOCK_ID, batchSize: 4 });
    expect(report).toEqual({
      columns: [{ table: 'secrets', column: 'value', rewritten: 6 }],
      revokedKeys: [digestB],
      keysInUse: [],
    });
    const found = await rows();
    expect(found).toHaveLength(6);
    for (const row of found)
      expect(row).toEqual({ id: row.id, value: expected.get(row.id), value_key_id: null });
    expect((await keyState()).every((k) => k.active_key_digest === null && k.revoked)).toBe(true);

    const again = await decryptAll(session, bThenA, [SECRETS], { lockId: LOCK_ID });
    expect(again).toEqual({
      columns: [{ table: 'secrets', column: 'value', rewritten: 0 }],
      revokedKeys: [],
      keysInUse: [],
    });
  });

  it('decryptAll fails on a value whose key is not configured, leaving that row untouched', async () => {
    await write(onlyA, ['a-1']);
    const error = await decryptAll(session, ciphersOf(keyB), [SECRETS], { lockId: LOCK_ID }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DecryptError);
    expect((error as DecryptError).code).toBe('unknown_key');
    expect((error as DecryptError).message).toContain('secrets.value row');
    expect((await rows())[0].value_key_id).toBe(digestA);
  });

  it('refuses a registry entry that is not a plain identifier', async () => {
    const bad = { ...SECRETS, table: 'secrets; DROP TABLE dbcrypt_keys' };
    await expect(rotate(session, bThenA, [bad], { lockId: LOCK_ID })).rejects.toThrow(
      /not a plain SQL identifier/,
    );
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}
