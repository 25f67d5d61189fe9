// dbpurge against a real database: what it deletes, what it keeps, and that one replica
// at a time purges.
import { dbpurgeSchema, loadConfig } from '@agentmesh/config';
import { lockId } from '@agentmesh/db';
import { RunningApp, startApp, workerOptions } from '@agentmesh/observability';
import { appTestEnv, deleteStreamsForPrefix, randomPrefix, useTestDatabase } from '@agentmesh/testing';
import { Client } from 'pg';
import { randomUUID } from 'node:crypto';
import { DbpurgeModule } from '../src/app.module';
import { PurgeService } from '../src/purge.service';

const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

describe('dbpurge', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  let app: RunningApp;
  let pg: Client;
  let userId: string;

  beforeAll(async () => {
    const cfg = () => loadConfig(dbpurgeSchema, appTestEnv(db.url, prefix, { PURGE_INTERVAL: '1h' }));
    app = await startApp(
      workerOptions('dbpurge', dbpurgeSchema, cfg, (c, shared) =>
        DbpurgeModule.forRoot(c, shared, { now: () => NOW, batchSize: 2 }),
      ),
    );
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    userId = randomUUID();
    await pg.query(`INSERT INTO users (id, email, username) VALUES ($1, 'p@example.com', 'purgeme')`, [
      userId,
    ]);
  });
  afterAll(async () => {
    await pg.end();
    await app.close();
    await deleteStreamsForPrefix(prefix);
  });

  async function key(id: string, expiresAt: Date): Promise<void> {
    await pg.query(
      `INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, login_type) VALUES ($1, '\\x00', $2, $3, 'password')`,
      [id, userId, expiresAt],
    );
  }
  const remaining = async () => (await pg.query(`SELECT id FROM api_keys ORDER BY id`)).rows.map((r) => r.id);

  it('deletes keys expired longer than the retention, in bounded batches, and keeps the rest', async () => {
    await pg.query(`DELETE FROM api_keys`);
    await key('old1', new Date(NOW.getTime() - 30 * DAY));
    await key('old2', new Date(NOW.getTime() - 8 * DAY));
    await key('old3', new Date(NOW.getTime() - 7 * DAY - 1000));
    await key('recent', new Date(NOW.getTime() - 6 * DAY));
    await key('live', new Date(NOW.getTime() + DAY));
    const purge = app.app.get(PurgeService);
    expect(await purge.tick()).toEqual({ ran: true, deleted: { api_keys: 2 } });
    expect(await purge.tick()).toEqual({ ran: true, deleted: { api_keys: 1 } });
    expect(await purge.tick()).toEqual({ ran: true, deleted: { api_keys: 0 } });
    expect(await remaining()).toEqual(['live', 'recent']);
  });

  it('skips the tick while another replica holds the purge lock', async () => {
    await key('old4', new Date(NOW.getTime() - 30 * DAY));
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [lockId('dbpurge')]);
      expect(await app.app.get(PurgeService).tick()).toEqual({ ran: false, deleted: {} });
      await other.query('COMMIT');
      expect((await app.app.get(PurgeService).tick()).deleted.api_keys).toBe(1);
    } finally {
      await other.end();
    }
  });

  it('counts its work in Prometheus metrics', async () => {
    const res = await fetch(`${app.url}/metrics`);
    expect(await res.text()).toMatch(/^agentmesh_dbpurge_duration_seconds_count\{app="dbpurge"\} \d+$/m);
  });
});
