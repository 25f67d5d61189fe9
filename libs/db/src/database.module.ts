// Nest module providing the process's DataSource. It connects at boot (retrying while
// Postgres comes up), registers the `postgres` and `schema` readiness checks (the schema
// check fails while migrations this build knows about are pending), and closes the pool
// last on shutdown.
import { DynamicModule, Global, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LOGGER, ReadinessService, StartupCleanup } from '@agentmesh/observability';
import { createDataSource, DataSourceConfig } from './data-source';
import { migrationStatus } from './migrator';

const CONNECT_ATTEMPTS = 30;
export const APP_STATEMENT_TIMEOUT_MS = 30_000;
const CONNECT_RETRY_MS = 2000;

@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(private readonly ds: DataSource) {}
  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }
}

export async function connectWithRetry(
  ds: DataSource,
  logger: Logger,
  attempts = CONNECT_ATTEMPTS,
): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await ds.initialize();
      return;
    } catch (e) {
      if (i >= attempts) throw e;
      logger.warn({ attempt: i, err: (e as Error).message }, 'Postgres not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
    }
  }
}

@Global()
@Module({})
export class DatabaseModule {
  static forRoot(cfg: DataSourceConfig): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DataSource,
          inject: [LOGGER, ReadinessService, StartupCleanup],
          useFactory: async (logger: Logger, readiness: ReadinessService, cleanup: StartupCleanup) => {
            const ds = createDataSource(cfg);
            cleanup.add(async () => ds.isInitialized && ds.destroy());
            await connectWithRetry(ds, logger);
            readiness.register('postgres', async () => {
              await ds.query('SELECT 1');
            });
            // Once this build's migrations are all applied they stay applied: stop checking.
            let schemaOk = false;
            readiness.register('schema', async () => {
              if (schemaOk) return;
              const s = await migrationStatus(ds);
              if (s.pending.length > 0) {
                throw new Error(
                  `${s.pending.length} migration(s) pending (${s.pending.join(', ')}): run the migration job (npm run migrate)`,
                );
              }
              schemaOk = true;
            });
            return ds;
          },
        },
        DataSourceCloser,
      ],
      exports: [DataSource],
    };
  }
}

/** The DataSource config every app uses: the whole schema's entities and known migrations. */
export function appDataSourceConfig(
  app: string,
  cfg: { DATABASE_URL: string; DB_POOL_SIZE: number },
  schema: Pick<DataSourceConfig, 'entities' | 'migrations'>,
): DataSourceConfig {
  return {
    url: cfg.DATABASE_URL,
    poolSize: cfg.DB_POOL_SIZE,
    applicationName: `agentmesh-${app}`,
    // A statement stuck behind a lock must not hold a pooled connection forever.
    statementTimeoutMs: APP_STATEMENT_TIMEOUT_MS,
    ...schema,
  };
}
