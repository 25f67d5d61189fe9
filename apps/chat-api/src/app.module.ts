// The chat-api root module: the public HTTP API over Postgres and NATS.
import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { Ciphers, loadCiphers } from '@agentmesh/crypto';
import { ChatApiConfig } from '@agentmesh/config';
import { appDataSourceConfig, DatabaseModule } from '@agentmesh/db';
import { ALL_ENTITIES } from '@agentmesh/entities';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import { BusModule, natsOptionsFrom, Subjects } from '@agentmesh/bus';
import { ObservabilityModule, SharedSingletons } from '@agentmesh/observability';
import { AibridgeModule } from './aibridge/aibridge.module';
import { AuthGuard } from './auth/auth.guard';
import { AuthService } from './auth/auth.service';
import { ChatConfigModule } from './chat-config/chat-config.module';
import { SESSION_CONFIG, SessionController, SessionConfig } from './auth/session.controller';
import { ChatsModule } from './chats/chats.module';
import { ChatStreamModule } from './chat-stream';
import { ErrorFilter } from './http/error.filter';
import { BodyValidationPipe } from './http/validation';
import { OrganizationsController } from './organizations/organizations.controller';
import { OrganizationsService } from './organizations/organizations.service';
import { TOKEN_CONFIG, TokenConfig, TokensService } from './tokens/tokens.service';
import { TokensController } from './tokens/tokens.controller';
import { UsersController } from './users/users.controller';
import { UsersService } from './users/users.service';

/**
 * Secret columns' ciphers, global so feature modules (chat config, chats) can inject `Ciphers`:
 * the configured keys are registered in dbcrypt_keys and checked against it at boot, so a wrong
 * key list fails here, not on first read.
 */
@Global()
@Module({})
class CiphersModule {
  static forRoot(cfg: ChatApiConfig, shared: SharedSingletons): DynamicModule {
    return {
      module: CiphersModule,
      providers: [
        {
          provide: Ciphers,
          inject: [DataSource],
          useFactory: (ds: DataSource) =>
            loadCiphers(ds, cfg.AGENTMESH_ENCRYPTION_KEYS, (msg, detail) =>
              shared.logger.warn(detail ?? {}, msg),
            ),
        },
      ],
      exports: [Ciphers],
    };
  }
}

@Module({})
export class ChatApiModule {
  static forRoot(cfg: ChatApiConfig, shared: SharedSingletons): DynamicModule {
    const tokenConfig: TokenConfig = {
      sessionDurationMs: cfg.SESSION_DURATION,
      maxTokenLifetimeMs: cfg.MAX_TOKEN_LIFETIME,
    };
    const sessionConfig: SessionConfig = {
      secureCookie: cfg.SECURE_AUTH_COOKIE,
      ipLimitPerMinute: cfg.LOGIN_RATE_LIMIT_IP,
      accountLimitPerMinute: cfg.LOGIN_RATE_LIMIT_ACCOUNT,
    };
    return {
      module: ChatApiModule,
      imports: [
        ObservabilityModule.forRoot(shared),
        DatabaseModule.forRoot(
          appDataSourceConfig('chat-api', cfg, { entities: ALL_ENTITIES, migrations: ALL_MIGRATIONS }),
        ),
        BusModule.forRoot({
          nats: natsOptionsFrom('chat-api', cfg),
          // config.changed: ChatConfigModule's ConfigEvents drops this replica's caches.
          subscriptions: [{ kind: 'subject', subject: Subjects.configChanged }],
          // TELEMETRY: first_user; CHAT_EVENTS: chat lifecycle events from the outbox.
          streams: ['TELEMETRY', 'CHAT_EVENTS'],
          outbox: { enabled: true },
        }),
        CiphersModule.forRoot(cfg, shared),
        ChatConfigModule,
        ChatsModule,
        ChatStreamModule,
        AibridgeModule,
      ],
      controllers: [UsersController, SessionController, TokensController, OrganizationsController],
      providers: [
        { provide: TOKEN_CONFIG, useValue: tokenConfig },
        { provide: SESSION_CONFIG, useValue: sessionConfig },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_PIPE, useClass: BodyValidationPipe },
        AuthService,
        UsersService,
        TokensService,
        OrganizationsService,
      ],
    };
  }
}
