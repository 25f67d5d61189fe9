// Builds an AI SDK language model for a configured chat provider (`chat_providers` row:
// type, API key, base URL) and a model id. Every provider type of the reference has an AI
// SDK provider that runs on Node 20 with the same provider-spec major (v3), so all eight
// are wired; an unknown type is an UnsupportedProviderError (HTTP 400 at the API).
// Base URLs follow each vendor's own SDK convention, so configs copied from the reference
// keep working: OpenAI-style URLs include `/v1`, Anthropic's is the API root.
import { createBedrockAnthropic } from '@ai-sdk/amazon-bedrock/anthropic';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createAzure } from '@ai-sdk/azure';
import { createGatewayProvider } from '@ai-sdk/gateway';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { CHAT_PROVIDER_TYPES, ChatProviderType } from '@agentmesh/contracts';
import { createOpenRouter } from '@openrouter/ai-sdk-provider';
import type { LanguageModel } from 'ai';
import { ProviderConfigError, UnsupportedProviderError } from './errors';

/** A model object the AI SDK can call (never a bare model-id string). */
export type LlmModel = Exclude<LanguageModel, string>;

/** How to reach a provider: the decrypted key and the admin's base URL ('' = default). */
export interface ProviderConnection {
  provider: string;
  apiKey?: string;
  baseUrl?: string;
  /** Extra request headers (e.g. gateway routing). */
  headers?: Record<string, string>;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof globalThis.fetch;
}

/** The name the SDK gives the OpenAI-compatible provider; also its providerOptions key. */
export const OPENAI_COMPAT_PROVIDER_NAME = 'openaicompat';

type Factory = (c: ProviderConnection, baseURL: string | undefined, modelId: string) => LlmModel;

const FACTORIES: Record<ChatProviderType, Factory> = {
  // The Responses API: the one OpenAI's reasoning summaries and service tiers need.
  openai: (c, baseURL, modelId) => createOpenAI(common(c, baseURL)).responses(modelId),
  anthropic: (c, baseURL, modelId) => createAnthropic(common(c, withV1(baseURL)))(modelId),
  'openai-compat': (c, baseURL, modelId) => {
    if (!baseURL)
      throw new ProviderConfigError(c.provider, 'An OpenAI-compatible provider needs a base URL.');
    return createOpenAICompatible({
      ...common(c, baseURL),
      baseURL,
      name: OPENAI_COMPAT_PROVIDER_NAME,
      // Without it a stream carries no usage chunk and the turn could not be priced.
      includeUsage: true,
    }).chatModel(modelId);
  },
  azure: (c, baseURL, modelId) => {
    if (!baseURL) throw new ProviderConfigError(c.provider, 'Azure OpenAI needs the resource base URL.');
    return createAzure({ ...common(c, azureBase(baseURL)) })(modelId);
  },
  // The reference's Bedrock provider is Anthropic on Bedrock (it takes the anthropic options).
  bedrock: (c, baseURL, modelId) =>
    createBedrockAnthropic({
      ...common(c, baseURL),
      ...(bedrockRegion(baseURL) ? { region: bedrockRegion(baseURL) } : {}),
    })(modelId),
  google: (c, baseURL, modelId) => createGoogleGenerativeAI(common(c, baseURL))(modelId),
  // Strict mode asks for the usage chunk (`stream_options.include_usage`), needed for cost.
  openrouter: (c, baseURL, modelId) =>
    createOpenRouter({ ...common(c, baseURL), compatibility: 'strict' }).chat(modelId),
  // "vercel" is the Vercel AI Gateway (model ids like `anthropic/claude-haiku-4.5`).
  vercel: (c, baseURL, modelId) => createGatewayProvider(common(c, baseURL))(modelId),
};

/** Provider types this build can call (all of the reference's). */
export const SUPPORTED_PROVIDER_TYPES: readonly ChatProviderType[] = CHAT_PROVIDER_TYPES.filter((type) =>
  Object.hasOwn(FACTORIES, type),
);

export function isSupportedProvider(provider: string): provider is ChatProviderType {
  return (SUPPORTED_PROVIDER_TYPES as readonly string[]).includes(provider);
}

/** The model for `modelId` at the provider; throws UnsupportedProviderError / ProviderConfigError. */
export function createLanguageModel(connection: ProviderConnection, modelId: string): LlmModel {
  if (!isSupportedProvider(connection.provider)) throw new UnsupportedProviderError(connection.provider);
  if (!modelId.trim()) throw new ProviderConfigError(connection.provider, 'A model id is required.');
  const baseURL = normalizeBaseUrl(connection);
  try {
    return FACTORIES[connection.provider](connection, baseURL, modelId);
  } catch (error) {
    if (error instanceof ProviderConfigError) throw error;
    // SDK factories fail on missing settings (e.g. Bedrock without a region): an admin's fix.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ProviderConfigError(
      connection.provider,
      `Chat provider "${connection.provider}" is misconfigured: ${reason}`,
    );
  }
}

function normalizeBaseUrl(connection: ProviderConnection): string | undefined {
  const raw = connection.baseUrl?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ProviderConfigError(connection.provider, `Invalid provider base URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProviderConfigError(connection.provider, `Invalid provider base URL: ${raw}`);
  }
  return raw.replace(/\/+$/, '');
}

function common(c: ProviderConnection, baseURL: string | undefined) {
  return {
    ...(c.apiKey ? { apiKey: c.apiKey } : {}),
    ...(baseURL ? { baseURL } : {}),
    ...(c.headers ? { headers: c.headers } : {}),
    ...(c.fetch ? { fetch: c.fetch } : {}),
  };
}

/** Anthropic's SDKs take the API root and add `/v1`; the AI SDK wants `/v1` in the URL. */
function withV1(baseURL: string | undefined): string | undefined {
  if (!baseURL) return undefined;
  return /\/v1$/.test(baseURL) ? baseURL : `${baseURL}/v1`;
}

/**
 * On Azure hosts the AI SDK wants `…/openai` or `…/openai/v1` and adds the rest; accept the
 * bare resource URL too. Other hosts (proxies) are used as given.
 */
function azureBase(baseURL: string): string {
  const { hostname, pathname } = new URL(baseURL);
  const azureHost = /\.(openai|cognitiveservices)\.azure\.com$|\.services\.ai\.azure\.com$/.test(hostname);
  return azureHost && !/\/openai(\/v1)?$/.test(pathname) ? `${baseURL}/openai` : baseURL;
}

/** `https://bedrock-runtime.<region>.amazonaws.com` names its region. */
function bedrockRegion(baseURL: string | undefined): string | undefined {
  return baseURL ? /bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com/.exec(baseURL)?.[1] : undefined;
}
