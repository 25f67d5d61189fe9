// Model-config options → AI SDK call settings and per-provider providerOptions.
import { callSettingsFromConfig, DEFAULT_MAX_OUTPUT_TOKENS } from './call-options';
import { camelCaseKeys, toSdkProviderOptions } from './provider-options';

describe('callSettingsFromConfig', () => {
  it('maps the sampling options to AI SDK names', () => {
    expect(
      callSettingsFromConfig('openai', {
        max_output_tokens: 2048,
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        presence_penalty: 0.1,
        frequency_penalty: -0.1,
      }),
    ).toEqual({
      maxOutputTokens: 2048,
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      presencePenalty: 0.1,
      frequencyPenalty: -0.1,
    });
  });

  it('caps output at the reference default when the config sets no limit', () => {
    expect(callSettingsFromConfig('anthropic', undefined)).toEqual({
      maxOutputTokens: DEFAULT_MAX_OUTPUT_TOKENS,
    });
    expect(callSettingsFromConfig('anthropic', { max_output_tokens: 0 }).maxOutputTokens).toBe(
      DEFAULT_MAX_OUTPUT_TOKENS,
    );
  });

  it('does not send the prices as call options', () => {
    const settings = callSettingsFromConfig('openai', { cost: { input_price_per_million_tokens: '1' } });
    expect(Object.keys(settings)).toEqual(['maxOutputTokens']);
  });

  it('attaches provider options for the provider being called', () => {
    const settings = callSettingsFromConfig('openai', {
      provider_options: {
        openai: { reasoning_effort: 'low' },
        anthropic: { thinking: { budget_tokens: 1 } },
      },
    });
    expect(settings.providerOptions).toEqual({ openai: { reasoningEffort: 'low' } });
  });
});

describe('toSdkProviderOptions', () => {
  it('gives Azure the OpenAI shape under its own key', () => {
    expect(toSdkProviderOptions('azure', { openai: { service_tier: 'flex' } })).toEqual({
      azure: { serviceTier: 'flex' },
    });
  });

  it('gives Bedrock the Anthropic shape, adding the thinking type the SDK needs', () => {
    expect(toSdkProviderOptions('bedrock', { anthropic: { thinking: { budget_tokens: 1024 } } })).toEqual({
      anthropic: { thinking: { type: 'enabled', budgetTokens: 1024 } },
    });
  });

  it('keeps OpenAI-compatible and OpenRouter options verbatim (they go straight into the body)', () => {
    expect(toSdkProviderOptions('openai-compat', { openaicompat: { top_a: 1 } })).toEqual({
      openaicompat: { top_a: 1 },
    });
    expect(toSdkProviderOptions('openrouter', { openrouter: { provider: { sort: 'price' } } })).toEqual({
      openrouter: { provider: { sort: 'price' } },
    });
  });

  it('maps vercel options to the gateway key', () => {
    expect(toSdkProviderOptions('vercel', { vercel: { only: ['anthropic'] } })).toEqual({
      gateway: { only: ['anthropic'] },
    });
  });

  it('is undefined when the config has nothing for the provider', () => {
    expect(toSdkProviderOptions('google', { openai: { x: 1 } })).toBeUndefined();
    expect(toSdkProviderOptions('google', { google: {} })).toBeUndefined();
    expect(toSdkProviderOptions('google', undefined)).toBeUndefined();
  });
});

describe('camelCaseKeys', () => {
  it('renames keys at every depth and leaves values alone', () => {
    expect(
      camelCaseKeys({
        thinking_config: { thinking_budget: 10, include_thoughts: true },
        list: [{ a_b: 'c_d' }],
      }),
    ).toEqual({
      thinkingConfig: { thinkingBudget: 10, includeThoughts: true },
      list: [{ aB: 'c_d' }],
    });
  });
});
