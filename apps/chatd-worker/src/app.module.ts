// chatd-worker: acquires pending chats and runs their turns against the configured model,
// streaming every part over NATS; heartbeats its chats and recovers those of dead workers.
import { randomUUID } from 'node:crypto';
import { DynamicModule, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ChatdWorkerConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom, Subjects } from '@agentmesh/bus';
import { ChatTitles, TurnPersistence } from '@agentmesh/chats';
import { Ciphers, loadCiphers } from '@agentmesh/crypto';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';
import { ChatEngine, ENGINE_OPTIONS, EngineOptions } from './engine/chat-engine.service';
import { LlmTurnRunner, TURN_OPTIONS, TurnOptions } from './engine/llm-turn-runner';
import { RunningChats } from './engine/running-chats';
import { TURN_RUNNER } from './engine/turn-runner';

@Module({})
export class ChatdWorkerModule {
  static forRoot(
    cfg: ChatdWorkerConfig,
    shared: SharedSingletons,
    workerId: string = randomUUID(),
  ): DynamicModule {
    const engine: EngineOptions = {
      workerId,
      maxChats: cfg.CHATD_MAX_CHATS,
      acquireBatch: cfg.CHATD_ACQUIRE_BATCH,
      pollIntervalMs: cfg.CHATD_POLL_INTERVAL,
      heartbeatIntervalMs: cfg.CHATD_HEARTBEAT_INTERVAL,
      staleAfterMs: cfg.CHATD_STALE_THRESHOLD,
    };
    const turn: TurnOptions = {
      firstChunkTimeoutMs: cfg.CHATD_FIRST_CHUNK_TIMEOUT,
      autoTitle: cfg.CHATD_AUTO_TITLE,
    };
    shared.logger.info({ worker_id: workerId }, 'chatd worker identity');
    return {
      module: ChatdWorkerModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('chatd-worker', cfg, { entities: ALL_ENTITIES, migrations: ALL_MIGRATIONS }),
        ),
        BusModule.forRoot({
          nats: natsOptionsFrom('chatd-worker', cfg),
          subscriptions: [{ kind: 'subject', subject: Subjects.chatdWake }],
          streams: ['CHAT_EVENTS'],
          // Turn endings write status_change events to the outbox.
          outbox: { enabled: true },
        }),
      ],
      providers: [
        { provide: ENGINE_OPTIONS, useValue: engine },
        { provide: TURN_OPTIONS, useValue: turn },
        {
          provide: Ciphers,
          inject: [DataSource],
          useFactory: (ds: DataSource) =>
            loadCiphers(ds, cfg.AGENTMESH_ENCRYPTION_KEYS, (msg, detail) =>
              shared.logger.warn(detail ?? {}, msg),
            ),
        },
        TurnPersistence,
        RunningChats,
        ChatTitles,
        LlmTurnRunner,
        { provide: TURN_RUNNER, useExisting: LlmTurnRunner },
        ChatEngine,
      ],
    };
  }
}
