import { Client } from 'pg';
import { createDataSource, migrate, migrationStatus } from '@agentmesh/db';
import { withAdmin, dbUrl } from '@agentmesh/testing';
import { ALL_MIGRATIONS, EXPECTED_MIGRATION } from '@agentmesh/migrations';

// These tests migrate an empty database themselves (the shared template is already migrated).
describe('migrations', () => {
  const name = `am_test_${process.env.AGENTMESH_TEST_RUN}_mig_${process.pid}`;
  beforeAll(() => withAdmin((c) => c.query(`CREATE DATABASE "${name}"`)));
  afterAll(() => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));

  const ds = () =>
    createDataSource({
      url: dbUrl(name),
      poolSize: 2,
      applicationName: 'mig-test',
      migrations: ALL_MIGRATIONS,
    });

  it('applies every migration once when several replicas run at the same time', async () => {
    const replicas = [ds(), ds(), ds(), ds()];
    await Promise.all(replicas.map((d) => d.initialize()));
    try {
      const applied = await Promise.all(replicas.map((d) => migrate(d)));
      // Exactly one replica applied the migrations; the others found nothing pending.
      expect(applied.flat().sort()).toEqual(ALL_MIGRATIONS.map((m) => m.name).sort());
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      const status = await migrationStatus(replicas[0]);
      expect(status.pending).toEqual([]);
      expect(status.applied[status.applied.length - 1]).toBe(EXPECTED_MIGRATION);
    } finally {
      await Promise.all(replicas.map((d) => d.destroy()));
    }
  });

  it('is idempotent: a second run applies nothing', async () => {
    const d = ds();
    await d.initialize();
    try {
      expect(await migrate(d)).toEqual([]);
    } finally {
      await d.destroy();
    }
  });

  it('rolls every migration back down and up again', async () => {
    const d = ds();
    await d.initialize();
    try {
      for (let i = 0; i < ALL_MIGRATIONS.length; i++) await d.undoLastMigration({ transaction: 'each' });
      const c = new Client({ connectionString: dbUrl(name) });
      await c.connect();
      const { rows } = await c.query(
        `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'agentmesh_migrations'`,
      );
      await c.end();
      expect(rows[0].n).toBe(0);
      expect((await migrationStatus(d)).pending).toHaveLength(ALL_MIGRATIONS.length);
      await migrate(d);
      expect((await migrationStatus(d)).pending).toEqual([]);
    } finally {
      await d.destroy();
    }
  });
});
