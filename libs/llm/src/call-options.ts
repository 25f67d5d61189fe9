// Call settings for one model call from the model config's options (wire contract §4.2:
// max_output_tokens, temperature, top_p, top_k, presence_penalty, frequency_penalty and
// provider_options). Unset values are left to the provider, except the output cap, which
// defaults to the reference's 32,000 tokens so a runaway generation is bounded.
import type { ChatModelCallConfig, ChatProviderType } from '@agentmesh/contracts';
import type { streamText } from 'ai';
import { toSdkProviderOptions } from './provider-options';

/** The AI SDK's per-provider options map (`{openai: {...}}`). */
export type ProviderOptions = NonNullable<Parameters<typeof streamText>[0]['providerOptions']>;

export const DEFAULT_MAX_OUTPUT_TOKENS = 32_000;

export interface ModelCallSettings {
  maxOutputTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  providerOptions?: ProviderOptions;
}

const finite = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

export function callSettingsFromConfig(
  provider: ChatProviderType,
  config: ChatModelCallConfig | null | undefined,
): ModelCallSettings {
  const maxOutputTokens = finite(config?.max_output_tokens);
  const settings: ModelCallSettings = {
    maxOutputTokens:
      maxOutputTokens !== undefined && maxOutputTokens > 0
        ? Math.trunc(maxOutputTokens)
        : DEFAULT_MAX_OUTPUT_TOKENS,
  };
  const optional: [keyof ModelCallSettings, unknown][] = [
    ['temperature', config?.temperature],
    ['topP', config?.top_p],
    ['topK', config?.top_k],
    ['presencePenalty', config?.presence_penalty],
    ['frequencyPenalty', config?.frequency_penalty],
  ];
  for (const [key, value] of optional) {
    const number = finite(value);
    if (number !== undefined) (settings as unknown as Record<string, number>)[key] = number;
  }
  const providerOptions = toSdkProviderOptions(provider, config?.provider_options);
  if (providerOptions) settings.providerOptions = providerOptions;
  return settings;
}
