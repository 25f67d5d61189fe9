// Rows → wire objects (codersdk ChatProviderConfig, ChatModelConfig).
import {
  ChatModelConfig,
  ChatProviderConfig,
  ChatProviderType,
  wireTime,
  ZERO_TIME,
} from '@agentmesh/contracts';
import { ModelConfigRow, ProviderRow } from './chat-config.queries';
import { PROVIDER_DISPLAY_NAMES } from './constants';
import { toWireModelCallConfig } from './model-call-config';

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export function providerDisplayName(provider: ChatProviderType): string {
  return PROVIDER_DISPLAY_NAMES[provider] ?? provider;
}

/**
 * A configured provider. The key is never returned; `has_api_key` says whether a central key
 * is usable (stored and enabled), as the reference reports it.
 */
export function toWireProvider(r: ProviderRow): ChatProviderConfig {
  const baseUrl = r.base_url.trim();
  return {
    id: r.id,
    provider: r.provider,
    display_name: r.display_name.trim() || providerDisplayName(r.provider),
    enabled: r.enabled,
    has_api_key: r.has_api_key && r.central_api_key_enabled,
    central_api_key_enabled: r.central_api_key_enabled,
    allow_user_api_key: r.allow_user_api_key,
    allow_central_api_key_fallback: r.allow_central_api_key_fallback,
    ...(baseUrl ? { base_url: baseUrl } : {}),
    source: 'database',
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
  };
}

/** A supported provider with no row: nil id, zero times, disabled, default credential policy. */
export function supportedProvider(provider: ChatProviderType): ChatProviderConfig {
  return {
    id: NIL_UUID,
    provider,
    display_name: providerDisplayName(provider),
    enabled: false,
    has_api_key: false,
    central_api_key_enabled: true,
    allow_user_api_key: false,
    allow_central_api_key_fallback: false,
    source: 'supported',
    created_at: ZERO_TIME,
    updated_at: ZERO_TIME,
  };
}

/** `model_config` is omitted when no option is set. */
export function toWireModelConfig(r: ModelConfigRow): ChatModelConfig {
  const options = toWireModelCallConfig(r.options);
  return {
    id: r.id,
    provider: r.provider,
    model: r.model,
    display_name: r.display_name,
    enabled: r.enabled,
    is_default: r.is_default,
    context_limit: Number(r.context_limit),
    compression_threshold: r.compression_threshold,
    ...(options ? { model_config: options } : {}),
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
  };
}
