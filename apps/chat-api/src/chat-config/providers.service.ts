// Chat providers (wire contract §4.1, chatd §6.4): one row per provider type, keys encrypted
// at rest and never returned. Deleting a provider hard-deletes its row and soft-deletes its
// model configs in the same transaction, re-electing the default if it went with them.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ChatProviderConfig, ChatProviderType } from '@agentmesh/contracts';
import { Ciphers } from '@agentmesh/crypto';
import { inTransaction, pgConstraint, pgErrorCode, PG_UNIQUE_VIOLATION } from '@agentmesh/db';
import { SUPPORTED_PROVIDER_TYPES } from '@agentmesh/llm';
import { AuthContext } from '../auth/auth.types';
import { ApiError } from '../http/api-error';
import {
  deleteProvider,
  ensureDefault,
  insertProvider,
  listProviders,
  lockModelConfigs,
  lockProviderById,
  ProviderRow,
  softDeleteProviderModelConfigs,
  updateProvider,
} from './chat-config.queries';
import { supportedProvider, toWireProvider } from './chat-config.mapper';
import { ConfigEvents } from './config-events.service';
import {
  KEYLESS_CENTRAL_PROVIDERS,
  MAX_BASE_URL_LENGTH,
  MAX_PROVIDER_API_KEY_BYTES,
  Messages,
} from './constants';
import { CreateProviderDto, UpdateProviderDto } from './dto/provider.dto';

const PG_CHECK_VIOLATION = '23514';

/** Spellings clients use for the OpenAI-compatible type. */
const PROVIDER_ALIASES: Record<string, ChatProviderType> = {
  openaicompat: 'openai-compat',
  openai_compat: 'openai-compat',
  'openai-compatible': 'openai-compat',
};

/** The provider type a client meant (trimmed, case-insensitive), or undefined. */
export function normalizeProviderType(raw: string | null | undefined): ChatProviderType | undefined {
  const name = (raw ?? '').trim().toLowerCase();
  const type = PROVIDER_ALIASES[name] ?? name;
  return (SUPPORTED_PROVIDER_TYPES as readonly string[]).includes(type)
    ? (type as ChatProviderType)
    : undefined;
}

export function invalidProvider(): ApiError {
  return new ApiError(
    'bad_request',
    Messages.invalidProvider,
    `Provider must be one of: ${SUPPORTED_PROVIDER_TYPES.join(', ')}.`,
  );
}

/** '' (the provider's default endpoint) or an absolute http(s) URL, trimmed. */
export function normalizeBaseUrl(raw: string | null | undefined): string {
  const trimmed = (raw ?? '').trim();
  if (!trimmed) return '';
  const fail = (detail: string) => new ApiError('bad_request', Messages.invalidBaseUrl, detail);
  if (trimmed.length > MAX_BASE_URL_LENGTH)
    throw fail(`Base URL must be at most ${MAX_BASE_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw fail('Base URL must be an absolute URL with scheme and host.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw fail('Base URL scheme must be http or https.');
  if (!url.hostname) throw fail('Base URL must be an absolute URL with scheme and host.');
  return trimmed;
}

function checkApiKeySize(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_PROVIDER_API_KEY_BYTES)
    throw new ApiError(
      'bad_request',
      Messages.apiKeyTooLarge,
      `API key exceeds maximum size of ${MAX_PROVIDER_API_KEY_BYTES} bytes`,
    );
}

interface Policy {
  central: boolean;
  user: boolean;
  fallback: boolean;
}

/** Some credential must be usable; falling back to the central key needs both kinds. */
function checkPolicy(provider: ChatProviderType, p: Policy, hasKey: boolean): void {
  if (!(p.central || p.user) || (p.fallback && !(p.central && p.user)))
    throw new ApiError(
      'bad_request',
      Messages.invalidCredentialPolicy,
      'Enable central_api_key_enabled or allow_user_api_key (or both); ' +
        'allow_central_api_key_fallback requires both.',
    );
  if (p.central && !hasKey && !KEYLESS_CENTRAL_PROVIDERS.has(provider))
    throw new ApiError(
      'bad_request',
      Messages.missingCentralKey,
      'Set api_key, or disable central_api_key_enabled and allow user API keys.',
    );
}

@Injectable()
export class ProvidersService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly ciphers: Ciphers,
    private readonly events: ConfigEvents,
  ) {}

  /** One entry per supported provider: its row, or a synthesized "supported" entry. */
  async list(): Promise<ChatProviderConfig[]> {
    const rows = new Map((await listProviders(this.ds)).map((r) => [r.provider, r]));
    return SUPPORTED_PROVIDER_TYPES.map((type) => {
      const row = rows.get(type);
      return row ? toWireProvider(row) : supportedProvider(type);
    });
  }

  private encryptKey(key: string): { apiKey: string; apiKeyKeyId: string | null } {
    // No key is stored as '' (has_api_key tests for it), never as the ciphertext of ''.
    if (!key) return { apiKey: '', apiKeyKeyId: null };
    const { value, keyId } = this.ciphers.encrypt(key);
    return { apiKey: value, apiKeyKeyId: keyId };
  }

  async create(auth: AuthContext, dto: CreateProviderDto): Promise<ChatProviderConfig> {
    const provider = normalizeProviderType(dto.provider);
    if (!provider) throw invalidProvider();
    const apiKey = (dto.api_key ?? '').trim();
    checkApiKeySize(apiKey);
    const baseUrl = normalizeBaseUrl(dto.base_url);
    const policy: Policy = {
      central: dto.central_api_key_enabled ?? true,
      user: dto.allow_user_api_key ?? false,
      fallback: dto.allow_central_api_key_fallback ?? false,
    };
    checkPolicy(provider, policy, apiKey !== '');
    let row: ProviderRow;
    try {
      row = await insertProvider(this.ds, provider, auth.userId, {
        displayName: (dto.display_name ?? '').trim(),
        ...this.encryptKey(apiKey),
        baseUrl,
        enabled: dto.enabled ?? true,
        centralApiKeyEnabled: policy.central,
        allowUserApiKey: policy.user,
        allowCentralApiKeyFallback: policy.fallback,
      });
    } catch (e) {
      throw mapWriteError(e);
    }
    this.events.changed('providers', row.id);
    return toWireProvider(row);
  }

  async update(id: string, dto: UpdateProviderDto): Promise<ChatProviderConfig> {
    const apiKey = dto.api_key == null ? undefined : dto.api_key.trim();
    if (apiKey !== undefined) checkApiKeySize(apiKey);
    const baseUrl = dto.base_url == null ? undefined : normalizeBaseUrl(dto.base_url);
    const row = await inTransaction(this.ds, async (em) => {
      const current = await lockProviderById(em, id);
      if (!current) throw ApiError.notFound();
      const policy: Policy = {
        central: dto.central_api_key_enabled ?? current.central_api_key_enabled,
        user: dto.allow_user_api_key ?? current.allow_user_api_key,
        fallback: dto.allow_central_api_key_fallback ?? current.allow_central_api_key_fallback,
      };
      checkPolicy(current.provider, policy, apiKey === undefined ? current.has_api_key : apiKey !== '');
      const displayName = (dto.display_name ?? '').trim();
      const updated = await updateProvider(
        em,
        id,
        {
          // An empty display name keeps the stored one (the reference's PATCH semantics).
          displayName: displayName || current.display_name,
          baseUrl: baseUrl ?? current.base_url,
          enabled: dto.enabled ?? current.enabled,
          centralApiKeyEnabled: policy.central,
          allowUserApiKey: policy.user,
          allowCentralApiKeyFallback: policy.fallback,
        },
        apiKey === undefined ? undefined : this.encryptKey(apiKey),
      );
      if (!updated) throw ApiError.notFound();
      return updated;
    }).catch((e) => {
      throw mapWriteError(e);
    });
    this.events.changed('providers', row.id);
    return toWireProvider(row);
  }

  /**
   * Hard-deletes the provider and soft-deletes its model configs in one transaction; when the
   * default config was among them, the first remaining live config becomes the default.
   */
  async delete(id: string): Promise<void> {
    const removedConfigs = await inTransaction(this.ds, async (em) => {
      const current = await lockProviderById(em, id);
      if (!current) throw ApiError.notFound();
      await lockModelConfigs(em);
      const removed = await softDeleteProviderModelConfigs(em, current.provider);
      await deleteProvider(em, id);
      await ensureDefault(em);
      return removed;
    });
    this.events.changed('providers', id);
    if (removedConfigs.length > 0) this.events.changed('model_config');
  }
}

function mapWriteError(e: unknown): unknown {
  if (e instanceof ApiError) return e;
  const code = pgErrorCode(e);
  if (code === PG_UNIQUE_VIOLATION)
    return new ApiError(
      'conflict',
      Messages.providerExists,
      'Each provider type is configured once: update or delete the existing one.',
    );
  if (code === PG_CHECK_VIOLATION)
    return pgConstraint(e) === 'valid_credential_policy'
      ? new ApiError('bad_request', Messages.invalidCredentialPolicy)
      : new ApiError('bad_request', Messages.invalidProvider);
  return e;
}
