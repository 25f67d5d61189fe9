// Chat model configs (wire contract §4.2, chatd §1.5, §6.4): soft delete, exactly one
// default among the live configs whenever any exists, the provider checked (and locked) in
// the writing transaction. Also the lookups chat creation and reads reuse.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ChatModelConfig } from '@agentmesh/contracts';
import { inTransaction, pgErrorCode, PG_UNIQUE_VIOLATION } from '@agentmesh/db';
import { isUuid } from '@agentmesh/entities';
import { AuthContext } from '../auth/auth.types';
import { ApiError } from '../http/api-error';
import { canReadDeploymentConfig } from './chat-config.authz';
import {
  Db,
  ensureDefault,
  findDefaultModelConfig,
  findModelConfig,
  findModelConfigAnyState,
  insertModelConfig,
  listEnabledModelConfigs,
  listModelConfigs,
  lockModelConfigs,
  lockProviderByType,
  ModelConfigRow,
  ModelConfigWrite,
  softDeleteModelConfig,
  unsetDefaults,
  updateModelConfig,
} from './chat-config.queries';
import { NIL_UUID, toWireModelConfig } from './chat-config.mapper';
import { ConfigEvents } from './config-events.service';
import { DEFAULT_COMPRESSION_THRESHOLD, Messages } from './constants';
import { CreateModelConfigDto, UpdateModelConfigDto } from './dto/model-config.dto';
import { normalizeModelCallConfig } from './model-call-config';
import { invalidProvider, normalizeProviderType } from './providers.service';

function checkCompressionThreshold(value: number): number {
  if (value < 0 || value > 100)
    throw new ApiError(
      'bad_request',
      Messages.invalidCompressionThreshold,
      'compression_threshold must be between 0 and 100.',
    );
  return value;
}

function providerNotConfigured(provider: string): ApiError {
  return new ApiError(
    'bad_request',
    Messages.providerNotConfigured,
    `No "${provider}" chat provider is configured; create it first.`,
  );
}

function mapWriteError(e: unknown): unknown {
  if (pgErrorCode(e) === PG_UNIQUE_VIOLATION) return new ApiError('conflict', Messages.modelConfigExists);
  return e;
}

export interface ResolveModelConfigOptions {
  /** Run inside the caller's transaction. */
  db?: Db;
  /**
   * Lock the config row FOR SHARE (needs `db` to be a transaction): an admin cannot delete,
   * disable or change it until the caller commits.
   */
  lock?: boolean;
}

@Injectable()
export class ModelConfigsService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly events: ConfigEvents,
  ) {}

  /** Admins (deployment config read) see every live config; others the usable ones. */
  async list(auth: AuthContext): Promise<ChatModelConfig[]> {
    const rows = canReadDeploymentConfig(auth)
      ? await listModelConfigs(this.ds)
      : await listEnabledModelConfigs(this.ds);
    return rows.map(toWireModelConfig);
  }

  async create(auth: AuthContext, dto: CreateModelConfigDto): Promise<ChatModelConfig> {
    const provider = normalizeProviderType(dto.provider);
    if (!provider) throw invalidProvider();
    const model = (dto.model ?? '').trim();
    if (!model) throw new ApiError('bad_request', Messages.modelRequired);
    if (dto.context_limit == null || dto.context_limit <= 0)
      throw new ApiError(
        'bad_request',
        Messages.contextLimitRequired,
        'context_limit must be greater than zero.',
      );
    const write: ModelConfigWrite = {
      provider,
      model,
      displayName: (dto.display_name ?? '').trim(),
      enabled: dto.enabled ?? true,
      isDefault: dto.is_default ?? false,
      contextLimit: dto.context_limit,
      compressionThreshold: checkCompressionThreshold(
        dto.compression_threshold ?? DEFAULT_COMPRESSION_THRESHOLD,
      ),
      options: normalizeModelCallConfig(dto.model_config),
    };
    const row = await inTransaction(this.ds, async (em) => {
      if (!(await lockProviderByType(em, provider))) throw providerNotConfigured(provider);
      await lockModelConfigs(em);
      // The first config becomes the default; one sent as default becomes the only one.
      if (!write.isDefault && !(await findDefaultModelConfig(em))) write.isDefault = true;
      if (write.isDefault) await unsetDefaults(em);
      return insertModelConfig(em, auth.userId, write);
    }).catch((e) => {
      throw mapWriteError(e);
    });
    this.events.changed('model_config', row.id);
    return toWireModelConfig(row);
  }

  /** Empty strings and absent fields keep the stored values. */
  async update(auth: AuthContext, id: string, dto: UpdateModelConfigDto): Promise<ChatModelConfig> {
    const providerInput = (dto.provider ?? '').trim();
    const newProvider = providerInput ? normalizeProviderType(providerInput) : undefined;
    if (providerInput && !newProvider) throw invalidProvider();
    if (dto.context_limit != null && dto.context_limit <= 0)
      throw new ApiError('bad_request', Messages.contextLimitPositive);
    if (dto.compression_threshold != null) checkCompressionThreshold(dto.compression_threshold);
    const options = dto.model_config == null ? undefined : normalizeModelCallConfig(dto.model_config);

    const row = await inTransaction(this.ds, async (em) => {
      const existing = await findModelConfig(em, id);
      if (!existing) throw ApiError.notFound();
      const provider = newProvider ?? existing.provider;
      if (!(await lockProviderByType(em, provider))) throw providerNotConfigured(provider);
      await lockModelConfigs(em);
      // Re-read under the locks: the config may have been deleted (or changed) meanwhile.
      const current = await findModelConfig(em, id, true);
      if (!current) throw ApiError.notFound();
      const write: ModelConfigWrite = {
        provider,
        model: (dto.model ?? '').trim() || current.model,
        displayName: (dto.display_name ?? '').trim() || current.display_name,
        enabled: dto.enabled ?? current.enabled,
        isDefault: dto.is_default ?? current.is_default,
        contextLimit: dto.context_limit ?? Number(current.context_limit),
        compressionThreshold: dto.compression_threshold ?? current.compression_threshold,
        options: options ?? current.options,
      };
      if (write.isDefault && !current.is_default) await unsetDefaults(em, id);
      const updated = await updateModelConfig(em, id, auth.userId, write);
      if (!updated) throw ApiError.notFound();
      if (current.is_default && !write.isDefault) {
        // Unsetting the default promotes another config (this one only if it is alone).
        if ((await ensureDefault(em, [id])) === id) return (await findModelConfig(em, id)) ?? updated;
      }
      return updated;
    }).catch((e) => {
      throw mapWriteError(e);
    });
    this.events.changed('model_config', row.id);
    return toWireModelConfig(row);
  }

  /** Soft delete; when it was the default, the first remaining live config takes over. */
  async delete(id: string): Promise<void> {
    await inTransaction(this.ds, async (em) => {
      await lockModelConfigs(em);
      if (!(await softDeleteModelConfig(em, id))) throw ApiError.notFound();
      await ensureDefault(em);
    });
    this.events.changed('model_config', id);
  }

  /**
   * The model config a new chat (or message) uses: the one named by `id`, which must be live,
   * enabled and on an enabled provider (else 400 "Invalid model config ID."), or, without an
   * id, the default (400 "No default chat model config is configured." when there is none).
   */
  async resolveModelConfig(
    id?: string | null,
    opts: ResolveModelConfigOptions = {},
  ): Promise<ChatModelConfig> {
    const db = opts.db ?? this.ds;
    const lock = opts.lock ? ' FOR SHARE OF m' : '';
    if (id !== undefined && id !== null) {
      const invalid = (detail: string) =>
        new ApiError('bad_request', Messages.invalidChatModelConfigRef, detail);
      if (!isUuid(id) || id === NIL_UUID) throw invalid('model_config_id must be a model config id.');
      const rows: ModelConfigRow[] = await db.query(
        `SELECT m.id, m.provider, m.model, m.display_name, m.enabled, m.is_default, m.deleted, m.context_limit,
                m.compression_threshold, m.options, m.created_at, m.updated_at
           FROM chat_model_configs m JOIN chat_providers p ON p.provider = m.provider
          WHERE m.id = $1 AND NOT m.deleted AND m.enabled AND p.enabled${lock}`,
        [id.toLowerCase()],
      );
      if (!rows[0]) throw invalid('The model config does not exist or is not enabled.');
      return toWireModelConfig(rows[0]);
    }
    const row = await findDefaultModelConfig(db, opts.lock === true);
    if (!row) throw new ApiError('bad_request', Messages.noDefaultModelConfig);
    return toWireModelConfig(row);
  }

  /**
   * A config by id for reads, soft-deleted ones included (a chat keeps showing the model it
   * ran with); undefined when it never existed.
   */
  async findModelConfig(id: string, opts: { includeDeleted?: boolean; db?: Db } = {}) {
    if (!isUuid(id)) return undefined;
    const db = opts.db ?? this.ds;
    const row = opts.includeDeleted ? await findModelConfigAnyState(db, id) : await findModelConfig(db, id);
    return row ? toWireModelConfig(row) : undefined;
  }
}
