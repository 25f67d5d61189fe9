// aibridge-recorder: persists AI Bridge interception records from JetStream (recording lands with the AI Bridge issue; today it boots, provisions its stream and serves health).
import { DynamicModule, Module } from '@nestjs/common';
import { WorkerConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';

@Module({})
export class AibridgeRecorderModule {
  static forRoot(cfg: WorkerConfig, shared: SharedSingletons): DynamicModule {
    return {
      module: AibridgeRecorderModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('aibridge-recorder', cfg, {
            entities: ALL_ENTITIES,
            migrations: ALL_MIGRATIONS,
          }),
        ),
        BusModule.forRoot({
          nats: natsOptionsFrom('aibridge-recorder', cfg),
          subscriptions: [],
          streams: ['AIBRIDGE'],
        }),
      ],
    };
  }
}
