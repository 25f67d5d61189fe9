// `npm run migrate` (and the Helm hook / compose job): applies pending migrations under the
// migrations advisory lock, so any number of replicas may run it at once. `status` prints
// what is applied and pending and exits 1 when the schema is behind.
import { ConfigError, commonSchema, parseEnv, v } from '@agentmesh/config';
import { createDataSource, migrate, migrationStatus } from '@agentmesh/db';
import { ALL_MIGRATIONS } from './index';

const cliSchema = {
  DATABASE_URL: commonSchema.DATABASE_URL,
  MIGRATE_TIMEOUT: v.duration({ description: 'Give up after', apps: 'all', default: 600_000 }),
};

export async function runCli(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const cmd = argv[0] ?? 'migrate';
  if (!['migrate', 'status'].includes(cmd)) {
    console.error(`usage: migrations/cli.js [migrate|status]`);
    return 2;
  }
  let cfg;
  try {
    cfg = parseEnv(cliSchema, env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`migrate: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const ds = createDataSource({
    url: cfg.DATABASE_URL,
    poolSize: 2,
    applicationName: 'agentmesh-migrate',
    migrations: ALL_MIGRATIONS,
  });
  const timer = setTimeout(() => {
    console.error(
      `migrate: timed out after ${cfg.MIGRATE_TIMEOUT} ms (is another migration stuck holding the lock?)`,
    );
    process.exit(1);
  }, cfg.MIGRATE_TIMEOUT);
  timer.unref();
  try {
    await ds.initialize();
    if (cmd === 'status') {
      const s = await migrationStatus(ds);
      console.log(JSON.stringify({ applied: s.applied.length, pending: s.pending, unknown: s.unknown }));
      return s.pending.length > 0 ? 1 : 0;
    }
    const started = Date.now();
    const applied = await migrate(ds, (msg) => console.log(`migrate: ${msg}`));
    console.log(
      `migrate: ${applied.length ? `${applied.length} applied` : 'schema is up to date'} (${Date.now() - started} ms)`,
    );
    return 0;
  } catch (e) {
    console.error(`migrate: failed: ${(e as Error).message}`);
    return 1;
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
