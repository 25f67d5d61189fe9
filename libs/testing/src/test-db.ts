// A per-suite database for integration tests: `const db = useTestDatabase()` at the top of a
// describe block gives a fresh migrated database for that suite (dropped at the end of the run).
import { DataSource } from 'typeorm';
import { createDataSource } from '@agentmesh/db';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { cloneTemplate } from './pg-admin';

export interface TestDatabase {
  /** Connection URL of the suite's database (valid inside tests and hooks). */
  readonly url: string;
  readonly name: string;
  /** A DataSource on the database, initialised lazily (entities registered by the caller). */
  dataSource(): Promise<DataSource>;
}

export function useTestDatabase(): TestDatabase {
  let name = '';
  let url = '';
  let ds: DataSource | undefined;
  beforeAll(async () => {
    ({ name, url } = await cloneTemplate());
  });
  // The database itself is dropped by globalTeardown with the rest of the run's databases:
  // dropping it here could race other afterAll hooks that still hold connections.
  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });
  return {
    get url() {
      if (!url) throw new Error('test database is not ready: use it inside tests or hooks');
      return url;
    },
    get name() {
      return name;
    },
    async dataSource() {
      if (!ds) {
        ds = createDataSource({
          url: this.url,
          poolSize: 4,
          applicationName: 'agentmesh-test',
          migrations: ALL_MIGRATIONS,
        });
        await ds.initialize();
      }
      return ds;
    },
  };
}
