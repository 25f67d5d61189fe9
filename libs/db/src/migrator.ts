// Applies pending migrations under a session-level advisory lock, so any number of replicas
// (Helm hook retries, compose, `npm start`) may run it at once: one applies, the others wait
// and then find nothing to do. Each migration runs in its own transaction.
import { DataSource } from 'typeorm';
import { lockId } from './lock-ids';

export interface MigrationStatus {
  /** Names of migrations known to this build, in order. */
  known: string[];
  /** Names applied in the database, in order. */
  applied: string[];
  pending: string[];
  /** Applied in the database but unknown to this build (a newer release migrated). */
  unknown: string[];
}

export async function migrate(
  ds: DataSource,
  log: (msg: string) => void = () => undefined,
): Promise<string[]> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [lockId('migrations')]);
    try {
      const done = await ds.runMigrations({ transaction: 'each' });
      for (const m of done) log(`applied migration ${m.name}`);
      return done.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [lockId('migrations')]);
    }
  } finally {
    await runner.release();
  }
}

export async function migrationStatus(ds: DataSource): Promise<MigrationStatus> {
  const known = ds.migrations.map((m) => m.name ?? m.constructor.name);
  const exists = await ds.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [
    ds.options.migrationsTableName ?? 'migrations',
  ]);
  const applied: string[] = exists[0].ok
    ? (await ds.query(`SELECT name FROM "${ds.options.migrationsTableName}" ORDER BY id`)).map(
        (r: { name: string }) => r.name,
      )
    : [];
  const appliedSet = new Set(applied);
  const knownSet = new Set(known);
  return {
    known,
    applied,
    pending: known.filter((n) => !appliedSet.has(n)),
    unknown: applied.filter((n) => !knownSet.has(n)),
  };
}
