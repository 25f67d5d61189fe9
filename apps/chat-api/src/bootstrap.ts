// How chat-api starts (shared by main.ts and the tests, which start it in-process).
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ChatApiConfig, chatApiSchema } from '@agentmesh/config';
import { BootstrapOptions } from '@agentmesh/observability';
import { ChatApiModule } from './app.module';
import { installRequestGuards } from './http/request-guard';
import { installChatSockets } from './chat-stream';

export const CHAT_API_BODY_LIMIT = 1024 * 1024;

export function chatApiOptions(loadConfig: () => ChatApiConfig): BootstrapOptions<ChatApiConfig> {
  return {
    app: 'chat-api',
    schema: chatApiSchema,
    loadConfig,
    module: (cfg, shared) => ChatApiModule.forRoot(cfg, shared),
    listen: (cfg) => ({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT }),
    logLevel: (cfg) => cfg.LOG_LEVEL,
    otlpEndpoint: (cfg) => cfg.OTEL_EXPORTER_OTLP_ENDPOINT,
    gracePeriodMs: (cfg) => cfg.SHUTDOWN_GRACE_PERIOD,
    bodyLimit: CHAT_API_BODY_LIMIT,
    trustProxy: (cfg) => cfg.TRUST_PROXY,
    configure: async (app, _cfg, logger) => {
      installRequestGuards(app.getHttpAdapter().getInstance());
      // WebSocket routes (stream, watch): registered before Nest adds its routes and 404 handler.
      await installChatSockets(app, logger);
      const doc = SwaggerModule.createDocument(
        app,
        new DocumentBuilder()
          .setTitle('agentmesh API')
          .setDescription("Wire-compatible with Coder's codersdk for the covered features.")
          .setVersion('0.1.0')
          .build(),
      );
      app
        .getHttpAdapter()
        .getInstance()
        .get('/api/docs', async () => doc);
    },
  };
}
