// What other chat-api modules use from the chat configuration.
export { ChatConfigModule } from './chat-config.module';
export { ModelConfigsService, type ResolveModelConfigOptions } from './model-configs.service';
export { ProvidersService, normalizeProviderType } from './providers.service';
export {
  composeDeploymentPrompt,
  sanitizePrompt,
  SystemPromptService,
  type SystemPromptConfig,
} from './system-prompt.service';
export { DEFAULT_SYSTEM_PROMPT, MAX_SYSTEM_PROMPT_BYTES } from './constants';
export { toWireModelConfig } from './chat-config.mapper';
export { normalizeModelCallConfig, toWireModelCallConfig } from './model-call-config';
