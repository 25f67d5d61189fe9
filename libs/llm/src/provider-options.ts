// Maps a model config's `provider_options` (stored opaque, in the reference's snake_case
// shapes: `{openai: {reasoning_effort}}`, `{anthropic: {thinking: {budget_tokens}}}`) to the
// AI SDK's `providerOptions` for the provider that serves the call. SDK providers that
// validate typed options (OpenAI, Azure, Anthropic, Bedrock, Google, the gateway) want
// camelCase keys; OpenAI-compatible servers and OpenRouter get theirs copied verbatim into
// the request body, so their snake_case keys are passed through untouched.
import type { ChatProviderType } from '@agentmesh/contracts';
import type { ProviderOptions } from './call-options';
import { OPENAI_COMPAT_PROVIDER_NAME } from './provider-registry';

interface Route {
  /** Key in the model config's provider_options. */
  source: string;
  /** Key the AI SDK provider reads. */
  target: string;
  camelCase: boolean;
}

const ROUTES: Record<ChatProviderType, Route> = {
  openai: { source: 'openai', target: 'openai', camelCase: true },
  // Azure takes the OpenAI shape (wire contract §4.2) but reads it under its own key.
  azure: { source: 'openai', target: 'azure', camelCase: true },
  anthropic: { source: 'anthropic', target: 'anthropic', camelCase: true },
  // Bedrock takes the Anthropic shape, and the Anthropic-on-Bedrock provider reads `anthropic`.
  bedrock: { source: 'anthropic', target: 'anthropic', camelCase: true },
  google: { source: 'google', target: 'google', camelCase: true },
  'openai-compat': { source: 'openaicompat', target: OPENAI_COMPAT_PROVIDER_NAME, camelCase: false },
  openrouter: { source: 'openrouter', target: 'openrouter', camelCase: false },
  vercel: { source: 'vercel', target: 'gateway', camelCase: true },
};

/** The SDK providerOptions for `provider`, or undefined when the config has none for it. */
export function toSdkProviderOptions(
  provider: ChatProviderType,
  providerOptions: Record<string, unknown> | null | undefined,
): ProviderOptions | undefined {
  const route = ROUTES[provider];
  const options = providerOptions?.[route.source];
  if (!isPlainObject(options) || Object.keys(options).length === 0) return undefined;
  let converted = route.camelCase ? (camelCaseKeys(options) as Record<string, unknown>) : options;
  if (route.target === 'anthropic') converted = withThinkingType(converted);
  return { [route.target]: converted } as ProviderOptions;
}

/** Deep copy with object keys in camelCase (`budget_tokens` → `budgetTokens`); values kept. */
export function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
      camelCaseKeys(inner),
    ]),
  );
}

/** The reference stores `thinking: {budget_tokens}`; the SDK also needs `type: "enabled"`. */
function withThinkingType(options: Record<string, unknown>): Record<string, unknown> {
  const thinking = options.thinking;
  if (!isPlainObject(thinking) || thinking.type !== undefined || thinking.budgetTokens === undefined)
    return options;
  return { ...options, thinking: { type: 'enabled', ...thinking } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
