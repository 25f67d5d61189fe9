// telemetry-collector: reports usage snapshots and telemetry events (collection lands with the telemetry issue; today it boots, provisions its stream and serves health).
import { DynamicModule, Module } from '@nestjs/common';
import { WorkerConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';

@Module({})
export class TelemetryCollectorModule {
  static forRoot(cfg: WorkerConfig, shared: SharedSingletons): DynamicModule {
    return {
      module: TelemetryCollectorModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('telemetry-collector', cfg, {
            entities: ALL_ENTITIES,
            migrations: ALL_MIGRATIONS,
          }),
        ),
        BusModule.forRoot({
          nats: natsOptionsFrom('telemetry-collector', cfg),
          subscriptions: [],
          streams: ['TELEMETRY'],
        }),
      ],
    };
  }
}
