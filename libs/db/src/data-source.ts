// Builds TypeORM DataSources the same way for apps, the migration CLI and tests.
import { DataSource, DataSourceOptions, EntitySchema, MixedList } from 'typeorm';

export const MIGRATIONS_TABLE = 'agentmesh_migrations';

export interface DataSourceConfig {
  url: string;
  poolSize: number;
  applicationName: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities?: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations?: MixedList<Function | string>;
  /** Statement timeout in ms for every connection of the pool; 0 = none. */
  statementTimeoutMs?: number;
}

export function dataSourceOptions(cfg: DataSourceConfig): DataSourceOptions {
  return {
    type: 'postgres',
    url: cfg.url,
    entities: cfg.entities ?? [],
    migrations: cfg.migrations ?? [],
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsRun: false,
    synchronize: false,
    logging: false,
    applicationName: cfg.applicationName,
    extra: {
      max: cfg.poolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      ...(cfg.statementTimeoutMs ? { statement_timeout: cfg.statementTimeoutMs } : {}),
    },
  };
}

export function createDataSource(cfg: DataSourceConfig): DataSource {
  return new DataSource(dataSourceOptions(cfg));
}
