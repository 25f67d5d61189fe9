// aibridge-recorder: persists the records AI gateways publish on the AIBRIDGE stream (one
// durable consumer shared by all replicas, batched transactions, exactly-once by record id).
import { DynamicModule, Module } from '@nestjs/common';
import { AibridgeRecorderConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';
import { AIBRIDGE_RECORDER_CONSUMER, AibridgeRecorder } from './recorder/recorder.consumer';

@Module({})
export class AibridgeRecorderModule {
  static forRoot(cfg: AibridgeRecorderConfig, shared: SharedSingletons): DynamicModule {
    const consumer = {
      ...AIBRIDGE_RECORDER_CONSUMER,
      ackWaitMs: cfg.AIBRIDGE_RECORDER_ACK_WAIT,
      batch: {
        maxMessages: cfg.AIBRIDGE_RECORDER_BATCH_MESSAGES,
        maxWaitMs: cfg.AIBRIDGE_RECORDER_BATCH_WAIT,
        maxBytes: cfg.AIBRIDGE_RECORDER_BATCH_BYTES,
      },
    };
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
          subscriptions: [{ kind: 'consumer', consumer }],
          streams: ['AIBRIDGE'],
        }),
      ],
      providers: [AibridgeRecorder],
    };
  }
}
