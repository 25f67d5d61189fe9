// Limits, defaults, site_config keys and the reference's error messages for the admin chat
// configuration (wire contract §4, chatd §1.5, §1.8, §6.3–§6.4), plus the built-in
// deployment system prompt.
import type { ChatProviderType } from '@agentmesh/contracts';

/** site_configs keys (chatd §1.8). */
export const SITE_CONFIG_KEYS = {
  systemPrompt: 'agents_chat_system_prompt',
  includeDefaultSystemPrompt: 'agents_chat_include_default_system_prompt',
} as const;

/** Deployment prompts are limited to 128 KiB (UTF-8 bytes) after sanitizing. */
export const MAX_SYSTEM_PROMPT_BYTES = 128 * 1024;
/** Provider keys are limited to 10 KiB (UTF-8 bytes). */
export const MAX_PROVIDER_API_KEY_BYTES = 10 * 1024;
export const DEFAULT_COMPRESSION_THRESHOLD = 70;
/** Free-text fields the admin types (display names, model ids, base URLs). */
export const MAX_NAME_LENGTH = 256;
export const MAX_BASE_URL_LENGTH = 2048;

/** `{p}.config.changed` kinds published by the admin endpoints. */
export const CONFIG_KINDS = {
  providers: 'providers',
  modelConfig: 'model_config',
  systemPrompt: 'system_prompt',
} as const;

/** Human names for providers an admin has not configured (and for rows without a display name). */
export const PROVIDER_DISPLAY_NAMES: Readonly<Record<ChatProviderType, string>> = {
  anthropic: 'Anthropic',
  azure: 'Azure OpenAI',
  bedrock: 'AWS Bedrock',
  google: 'Google',
  openai: 'OpenAI',
  'openai-compat': 'OpenAI Compatible',
  openrouter: 'OpenRouter',
  vercel: 'Vercel AI Gateway',
};

/**
 * Providers that can authenticate without a stored central key (Bedrock falls back to the
 * ambient AWS credentials), so "central key enabled" does not require one.
 */
export const KEYLESS_CENTRAL_PROVIDERS: ReadonlySet<ChatProviderType> = new Set(['bedrock']);

/** The reference's messages, word for word (wire contract §4.1, §4.2). */
export const Messages = {
  invalidProvider: 'Invalid provider.',
  invalidProviderId: 'Invalid chat provider ID.',
  invalidModelConfigId: 'Invalid chat model config ID.',
  apiKeyTooLarge: 'API key too large.',
  invalidBaseUrl: 'Invalid provider base URL.',
  invalidCredentialPolicy: 'Invalid credential policy.',
  missingCentralKey: 'API key is required when central API key is enabled.',
  providerExists: 'Chat provider already exists.',
  modelRequired: 'Model is required.',
  contextLimitRequired: 'Context limit is required.',
  contextLimitPositive: 'Context limit must be greater than zero.',
  invalidCompressionThreshold: 'Invalid compression threshold.',
  invalidModelConfig: 'Invalid model config.',
  providerNotConfigured: 'Chat provider is not configured.',
  modelConfigExists: 'Chat model config already exists.',
  systemPromptTooLong: 'System prompt exceeds maximum length.',
  /** Chat creation (resolveModelConfig). */
  invalidChatModelConfigRef: 'Invalid model config ID.',
  noDefaultModelConfig: 'No default chat model config is configured.',
} as const;

/**
 * The built-in deployment prompt: prepended to every new chat while
 * `include_default_system_prompt` is on, ahead of the admin's custom prompt.
 */
export const DEFAULT_SYSTEM_PROMPT = `You are a coding agent working on behalf of the user who started this chat. You help with software engineering tasks: reading and explaining code, fixing bugs, implementing features, refactoring, writing tests, and operating the tools and workspace you are given.

How you work:
- Understand before you change. Read the relevant code, configuration and documentation first, and follow the conventions the project already uses (style, structure, libraries, test layout).
- Prefer the smallest change that fully solves the problem. Do not rewrite unrelated code, rename things gratuitously, or add dependencies without a clear reason.
- Verify your work. Build, type-check, lint and run the tests that cover what you changed when the tools allow it, and say plainly what you could not verify.
- Use tools deliberately. Explain briefly what you are about to do before running commands that change state; never run destructive commands (deleting data, force-pushing, rewriting history, touching production systems) unless the user explicitly asked for it.
- Keep secrets secret. Never print, log or commit credentials, tokens or private keys, and do not send code or data to services the user did not ask you to use.
- When a request is ambiguous or a decision has real trade-offs, state your assumption or ask a short question instead of guessing silently.
- If you get stuck, say so, describe what you tried and what you found, and suggest a next step.

How you answer:
- Be concise and concrete. Lead with the result, then the details that matter.
- Use Markdown. Put code, commands, paths and identifiers in code formatting, and reference files with their paths (and line numbers where useful).
- Report what you changed, why, and anything left to do.`;
