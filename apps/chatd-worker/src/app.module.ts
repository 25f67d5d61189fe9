// chatd-worker: acquires pending chats and runs their turns (the chat engine lands with the chat engine issue; today it boots, connects and serves health).
import { DynamicModule, Module } from '@nestjs/common';
import { WorkerConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';

@Module({})
export class ChatdWorkerModule {
  static forRoot(cfg: WorkerConfig, shared: SharedSingletons): DynamicModule {
    return {
      module: ChatdWorkerModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('chatd-worker', cfg, { entities: ALL_ENTITIES, migrations: ALL_MIGRATIONS }),
        ),
        BusModule.forRoot({
          nats: natsOptionsFrom('chatd-worker', cfg),
          subscriptions: [],
          streams: ['CHAT_EVENTS'],
        }),
      ],
    };
  }
}
