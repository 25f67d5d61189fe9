// Admin chat configuration: providers, model configs and the deployment system prompt
// (/api/experimental/chats/...). Needs the app's DataSource, BusService, LOGGER and Ciphers
// (all global in chat-api). Exports the services chat creation reuses:
// ModelConfigsService.resolveModelConfig and SystemPromptService.deploymentSystemPrompt.
import { Module } from '@nestjs/common';
import {
  ModelConfigsController,
  ProvidersController,
  SystemPromptController,
} from './chat-config.controllers';
import { ConfigEvents } from './config-events.service';
import { ModelConfigsService } from './model-configs.service';
import { ProvidersService } from './providers.service';
import { SystemPromptService } from './system-prompt.service';

@Module({
  controllers: [ProvidersController, ModelConfigsController, SystemPromptController],
  providers: [ConfigEvents, ProvidersService, ModelConfigsService, SystemPromptService],
  exports: [ProvidersService, ModelConfigsService, SystemPromptService],
})
export class ChatConfigModule {}
