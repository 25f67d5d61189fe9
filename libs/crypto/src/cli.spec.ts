import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { useTestDatabase } from '@agentmesh/testing';
import { Ciphers } from './cipher';
import { DBCRYPT_ROTATE_LOCK_ID, runCli } from './cli';
import { EncryptedColumn } from './encrypted-columns';
import { parseKeys } from './keys';
import { syncKeys } from './key-store';
import { pgQueryable } from './queryable';

const SECRETS: EncryptedColumn = {
  table: 'secrets',
  column: 'value',
  keyIdColumn: 'value_key_id',
  idColumn: 'id',
};
const newKey = () => randomBytes(32).toString('base64');

describe('dbcrypt CLI', () => {
  const db = useTestDatabase();
  let client: Client;
  let out: string[];
  let err: string[];
  const [keyA, keyB] = [newKey(), newKey()];
  const [digestA, digestB] = [keyA, keyB].map((k) => parseKeys(k)[0].digest);
  const env = (keys?: string) => ({ DATABASE_URL: db.url, AGENTMESH_ENCRYPTION_KEYS: keys });

  beforeAll(async () => {
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(
      'CREATE TABLE secrets (id uuid PRIMARY KEY, value text, value_key_id text REFERENCES dbcrypt_keys (active_key_digest))',
    );
    await admin.end();
  });
  beforeEach(async () => {
    out = [];
    err = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
    jest.spyOn(console, 'warn').mockImplementation((line: string) => void err.push(line));
    jest.spyOn(console, 'error').mockImplementation((line: string) => void err.push(line));
    client = new Client({ connectionString: db.url });
    await client.connect();
    await client.query('TRUNCATE secrets; DELETE FROM dbcrypt_keys');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await client.end();
  });

  /** Two rows under key A and one plaintext row, as the app wrote them. */
  async function seed(): Promise<void> {
    const ciphers = new Ciphers(parseKeys(keyA));
    await syncKeys(pgQueryable(client), ciphers);
    for (const enc of [ciphers.encrypt('one'), ciphers.encrypt('two'), { value: 'three', keyId: null }]) {
      await client.query('INSERT INTO secrets VALUES ($1, $2, $3)', [randomUUID(), enc.value, enc.keyId]);
    }
  }
  const activeKeys = async () =>
    (
      await client.query(
        'SELECT active_key_digest FROM dbcrypt_keys WHERE active_key_digest IS NOT NULL ORDER BY number',
      )
    ).rows.map((r: { active_key_digest: string }) => r.active_key_digest);

  it('uses the dbcryptRotate id of the lock registry ("agmh" << 32 | 4)', () => {
    expect(BigInt(DBCRYPT_ROTATE_LOCK_ID).toString(16)).toBe('61676d6800000004');
  });

  it('rotate re-encrypts the given columns, prints counts and exits 0', async () => {
    await seed();
    expect(await runCli(['rotate'], env(`${keyB},${keyA}`), [SECRETS])).toBe(0);
    expect(out).toEqual(['secrets.value: 3 row(s) re-encrypted', `revoked keys: ${digestA}`]);
    const { rows } = await client.query('SELECT DISTINCT value_key_id FROM secrets');
    expect(rows).toEqual([{ value_key_id: digestB }]);
  });

  it('rotate with no registered columns still registers the new key and revokes the unused old one', async () => {
    await syncKeys(pgQueryable(client), new Ciphers(parseKeys(keyA)));
    expect(await runCli(['rotate'], env(`${keyB},${keyA}`), [])).toBe(0);
    expect(await activeKeys()).toEqual([digestB]);
    expect(out).toEqual([`revoked keys: ${digestA}`]);
  });

  it('decrypt rewrites the columns as plaintext, revokes every key and exits 0', async () => {
    await seed();
    expect(await runCli(['decrypt'], env(keyA), [SECRETS])).toBe(0);
    expect(out[0]).toBe('secrets.value: 2 row(s) decrypted');
    const { rows } = await client.query('SELECT value, value_key_id FROM secrets ORDER BY value');
    expect(rows).toEqual(['one', 'three', 'two'].map((value) => ({ value, value_key_id: null })));
    expect(await activeKeys()).toEqual([]);
  });

  it('exits 3 and says to run again when rows were busy and the old key stays in use', async () => {
    await seed();
    const app = new Client({ connectionString: db.url });
    await app.connect();
    try {
      await app.query('BEGIN');
      await app.query('SELECT 1 FROM secrets WHERE value_key_id IS NOT NULL LIMIT 1 FOR UPDATE');
      expect(await runCli(['rotate'], env(`${keyB},${keyA}`), [SECRETS])).toBe(3);
      expect(out.at(-1)).toBe(
        `old keys still in use (rows were busy or written meanwhile; run again): ${digestA}`,
      );
    } finally {
      await app.end();
    }
  });

  it.each([[[]], [['delete']], [['rotate', 'now']]])('exits 2 with usage for arguments %j', async (argv) => {
    expect(await runCli(argv, env(keyA), [])).toBe(2);
    expect(err[0]).toMatch(/^usage:/);
  });

  it('exits 1 without DATABASE_URL', async () => {
    expect(await runCli(['rotate'], { AGENTMESH_ENCRYPTION_KEYS: keyA }, [])).toBe(1);
    expect(err).toEqual(['DATABASE_URL is not set']);
  });

  it('exits 1 on a bad key list, naming the position but not the key', async () => {
    const short = randomBytes(16).toString('base64');
    expect(await runCli(['rotate'], env(`${keyA},${short}`), [])).toBe(1);
    expect(err.join('\n')).toContain('key #2');
    expect(err.join('\n')).not.toContain(short);
    expect(err.join('\n')).not.toContain(keyA);
  });

  it('exits 1 when the database has keys of which none is configured', async () => {
    await seed();
    expect(await runCli(['rotate'], env(keyB), [SECRETS])).toBe(1);
    expect(err.join('\n')).toContain(digestA);
    expect(await activeKeys()).toEqual([digestA]);
  });
});
