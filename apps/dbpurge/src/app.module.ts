// dbpurge: retention. Deletes expired rows on a timer under an advisory lock.
import { DynamicModule, Module } from '@nestjs/common';
import { DbpurgeConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';
import { PURGE_OPTIONS, PurgeOptions, PurgeService } from './purge.service';

/** Deletes per statement; bounded so one tick never holds long row locks. */
export const PURGE_BATCH_SIZE = 10_000;

@Module({})
export class DbpurgeModule {
  static forRoot(
    cfg: DbpurgeConfig,
    shared: SharedSingletons,
    overrides: Partial<PurgeOptions> = {},
  ): DynamicModule {
    const opts: PurgeOptions = {
      intervalMs: cfg.PURGE_INTERVAL,
      apiKeyRetentionMs: cfg.RETENTION_API_KEYS,
      batchSize: PURGE_BATCH_SIZE,
      now: () => new Date(),
      ...overrides,
    };
    return {
      module: DbpurgeModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('dbpurge', cfg, { entities: ALL_ENTITIES, migrations: ALL_MIGRATIONS }),
        ),
        // No subscriptions yet; connected so readiness covers the bus like every app's.
        BusModule.forRoot({ nats: natsOptionsFrom('dbpurge', cfg), subscriptions: [], streams: [] }),
      ],
      providers: [{ provide: PURGE_OPTIONS, useValue: opts }, PurgeService],
    };
  }
}
