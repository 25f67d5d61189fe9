// The SQL of the admin chat configuration: chat_providers, chat_model_configs and the
// deployment prompt's site_configs rows. Writes that can change which config is the default
// serialize on a table lock (see lockModelConfigs), taken after any chat_providers row lock,
// so every writer takes locks in the same order.
import type { EntityManager } from 'typeorm';
import type { ChatProviderType } from '@agentmesh/contracts';
import { queryRows } from '@agentmesh/db';
import { SITE_CONFIG_KEYS } from './constants';

export type Db = Pick<EntityManager, 'query'>;

/** A chat_providers row without the key itself: only whether one is stored. */
export interface ProviderRow {
  id: string;
  provider: ChatProviderType;
  display_name: string;
  has_api_key: boolean;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  base_url: string;
  central_api_key_enabled: boolean;
  allow_user_api_key: boolean;
  allow_central_api_key_fallback: boolean;
}

export interface ModelConfigRow {
  id: string;
  provider: ChatProviderType;
  model: string;
  display_name: string;
  enabled: boolean;
  is_default: boolean;
  deleted: boolean;
  /** bigint: a string from the driver. */
  context_limit: string;
  compression_threshold: number;
  options: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const PROVIDER_COLUMNS = `id, provider, display_name, (api_key <> '') AS has_api_key, enabled, created_at, updated_at,
  base_url, central_api_key_enabled, allow_user_api_key, allow_central_api_key_fallback`;
const CONFIG_COLUMN_NAMES = [
  'id',
  'provider',
  'model',
  'display_name',
  'enabled',
  'is_default',
  'deleted',
  'context_limit',
  'compression_threshold',
  'options',
  'created_at',
  'updated_at',
];
const CONFIG_COLUMNS = CONFIG_COLUMN_NAMES.join(', ');
const CONFIG_COLUMNS_M = CONFIG_COLUMN_NAMES.map((c) => `m.${c}`).join(', ');
/** The reference's list order, also the default-promotion order (idx_chat_model_configs_list). */
const CONFIG_ORDER = `provider, model, updated_at DESC, id DESC`;

// ---- providers ----

export function listProviders(db: Db): Promise<ProviderRow[]> {
  return db.query(`SELECT ${PROVIDER_COLUMNS} FROM chat_providers ORDER BY provider`);
}

export async function lockProviderById(db: Db, id: string): Promise<ProviderRow | undefined> {
  const rows: ProviderRow[] = await db.query(
    `SELECT ${PROVIDER_COLUMNS} FROM chat_providers WHERE id = $1 FOR UPDATE`,
    [id],
  );
  return rows[0];
}

/** The configured provider of that type, locked so it cannot be deleted under the caller. */
export async function lockProviderByType(db: Db, provider: string): Promise<{ id: string } | undefined> {
  const rows: { id: string }[] = await db.query(
    `SELECT id FROM chat_providers WHERE provider = $1 FOR UPDATE`,
    [provider],
  );
  return rows[0];
}

export interface ProviderWrite {
  displayName: string;
  /** Ciphertext (or plaintext when no key is configured), '' for none. */
  apiKey: string;
  apiKeyKeyId: string | null;
  baseUrl: string;
  enabled: boolean;
  centralApiKeyEnabled: boolean;
  allowUserApiKey: boolean;
  allowCentralApiKeyFallback: boolean;
}

export async function insertProvider(
  db: Db,
  provider: ChatProviderType,
  createdBy: string,
  w: ProviderWrite,
): Promise<ProviderRow> {
  const [row] = await queryRows<ProviderRow>(
    db,
    `INSERT INTO chat_providers (provider, display_name, api_key, api_key_key_id, created_by, enabled, base_url,
       central_api_key_enabled, allow_user_api_key, allow_central_api_key_fallback)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     RETURNING ${PROVIDER_COLUMNS}`,
    [
      provider,
      w.displayName,
      w.apiKey,
      w.apiKeyKeyId,
      createdBy,
      w.enabled,
      w.baseUrl,
      w.centralApiKeyEnabled,
      w.allowUserApiKey,
      w.allowCentralApiKeyFallback,
    ],
  );
  return row;
}

/** Updates the row; the key columns only when `key` is given. */
export async function updateProvider(
  db: Db,
  id: string,
  w: Omit<ProviderWrite, 'apiKey' | 'apiKeyKeyId'>,
  key?: { apiKey: string; apiKeyKeyId: string | null },
): Promise<ProviderRow | undefined> {
  const [row] = await queryRows<ProviderRow>(
    db,
    `UPDATE chat_providers SET display_name = $2, base_url = $3, enabled = $4, central_api_key_enabled = $5,
       allow_user_api_key = $6, allow_central_api_key_fallback = $7,
       api_key = CASE WHEN $8 THEN $9 ELSE api_key END,
       api_key_key_id = CASE WHEN $8 THEN $10 ELSE api_key_key_id END,
       updated_at = now()
     WHERE id = $1
     RETURNING ${PROVIDER_COLUMNS}`,
    [
      id,
      w.displayName,
      w.baseUrl,
      w.enabled,
      w.centralApiKeyEnabled,
      w.allowUserApiKey,
      w.allowCentralApiKeyFallback,
      key !== undefined,
      key?.apiKey ?? '',
      key?.apiKeyKeyId ?? null,
    ],
  );
  return row;
}

/** Hard-deletes the provider (its users' BYOK keys cascade). */
export async function deleteProvider(db: Db, id: string): Promise<void> {
  await db.query(`DELETE FROM chat_providers WHERE id = $1`, [id]);
}

// ---- model configs ----

/**
 * Serializes every write that can change which config is the default (insert, update,
 * soft delete, promotion). The mode conflicts with itself and with row writes to the table,
 * not with the row locks foreign-key checks take, so chats keep referencing configs.
 */
export async function lockModelConfigs(db: Db): Promise<void> {
  await db.query(`LOCK TABLE chat_model_configs IN SHARE ROW EXCLUSIVE MODE`);
}

/** Every live config (admins' list), in the reference's order. */
export function listModelConfigs(db: Db): Promise<ModelConfigRow[]> {
  return db.query(
    `SELECT ${CONFIG_COLUMNS} FROM chat_model_configs WHERE NOT deleted ORDER BY ${CONFIG_ORDER}`,
  );
}

/** Live, enabled configs whose provider is configured and enabled (users' list). */
export function listEnabledModelConfigs(db: Db): Promise<ModelConfigRow[]> {
  return db.query(
    `SELECT ${CONFIG_COLUMNS_M} FROM chat_model_configs m
       JOIN chat_providers p ON p.provider = m.provider
      WHERE NOT m.deleted AND m.enabled AND p.enabled
      ORDER BY m.provider, m.model, m.updated_at DESC, m.id DESC`,
  );
}

/** A live config by id (FOR UPDATE when `lock`). */
export async function findModelConfig(db: Db, id: string, lock = false): Promise<ModelConfigRow | undefined> {
  const rows: ModelConfigRow[] = await db.query(
    `SELECT ${CONFIG_COLUMNS} FROM chat_model_configs WHERE id = $1 AND NOT deleted${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

/** A config by id, soft-deleted ones included (old chats keep resolving theirs). */
export async function findModelConfigAnyState(db: Db, id: string): Promise<ModelConfigRow | undefined> {
  const rows: ModelConfigRow[] = await db.query(
    `SELECT ${CONFIG_COLUMNS} FROM chat_model_configs WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/** The live default config, if any (FOR SHARE when `share`: it cannot change until commit). */
export async function findDefaultModelConfig(db: Db, share = false): Promise<ModelConfigRow | undefined> {
  const rows: ModelConfigRow[] = await db.query(
    `SELECT ${CONFIG_COLUMNS} FROM chat_model_configs WHERE is_default AND NOT deleted${share ? ' FOR SHARE' : ''}`,
  );
  return rows[0];
}

export interface ModelConfigWrite {
  provider: ChatProviderType;
  model: string;
  displayName: string;
  enabled: boolean;
  isDefault: boolean;
  contextLimit: number;
  compressionThreshold: number;
  options: Record<string, unknown>;
}

export async function insertModelConfig(
  db: Db,
  userId: string,
  w: ModelConfigWrite,
): Promise<ModelConfigRow> {
  const [row] = await queryRows<ModelConfigRow>(
    db,
    `INSERT INTO chat_model_configs (provider, model, display_name, created_by, updated_by, enabled, is_default,
       context_limit, compression_threshold, options)
     VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9::jsonb)
     RETURNING ${CONFIG_COLUMNS}`,
    [
      w.provider,
      w.model,
      w.displayName,
      userId,
      w.enabled,
      w.isDefault,
      w.contextLimit,
      w.compressionThreshold,
      JSON.stringify(w.options),
    ],
  );
  return row;
}

export async function updateModelConfig(
  db: Db,
  id: string,
  userId: string,
  w: ModelConfigWrite,
): Promise<ModelConfigRow | undefined> {
  const [row] = await queryRows<ModelConfigRow>(
    db,
    `UPDATE chat_model_configs SET provider = $2, model = $3, display_name = $4, updated_by = $5, enabled = $6,
       is_default = $7, context_limit = $8, compression_threshold = $9, options = $10::jsonb, updated_at = now()
     WHERE id = $1 AND NOT deleted
     RETURNING ${CONFIG_COLUMNS}`,
    [
      id,
      w.provider,
      w.model,
      w.displayName,
      userId,
      w.enabled,
      w.isDefault,
      w.contextLimit,
      w.compressionThreshold,
      JSON.stringify(w.options),
    ],
  );
  return row;
}

/** Clears the default flag of every live config except `keepId`. */
export async function unsetDefaults(db: Db, keepId: string | null = null): Promise<void> {
  await db.query(
    `UPDATE chat_model_configs SET is_default = false, updated_at = now()
      WHERE is_default AND NOT deleted AND ($1::uuid IS NULL OR id <> $1::uuid)`,
    [keepId],
  );
}

/** Soft-deletes one live config; false when there is none with that id. */
export async function softDeleteModelConfig(db: Db, id: string): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chat_model_configs SET deleted = true, deleted_at = now(), is_default = false, updated_at = now()
      WHERE id = $1 AND NOT deleted RETURNING id`,
    [id],
  );
  return rows.length > 0;
}

/** Soft-deletes a provider's live configs; returns their ids. */
export async function softDeleteProviderModelConfigs(db: Db, provider: string): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chat_model_configs SET deleted = true, deleted_at = now(), is_default = false, updated_at = now()
      WHERE provider = $1 AND NOT deleted RETURNING id`,
    [provider],
  );
  return rows.map((r) => r.id);
}

/**
 * When no live config is the default, promotes the first live one in list order (provider,
 * model, updated_at DESC, id DESC), preferring any config not in `avoid` (a config whose
 * default flag the admin just cleared keeps it only when it is the only one). Returns the
 * promoted id, if any. Callers hold lockModelConfigs.
 */
export async function ensureDefault(db: Db, avoid: string[] = []): Promise<string | undefined> {
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chat_model_configs SET is_default = true, updated_at = now()
      WHERE id = (SELECT id FROM chat_model_configs WHERE NOT deleted
                   ORDER BY (id = ANY($1::uuid[])), ${CONFIG_ORDER} LIMIT 1)
        AND NOT EXISTS (SELECT 1 FROM chat_model_configs WHERE is_default AND NOT deleted)
      RETURNING id`,
    [avoid],
  );
  return rows[0]?.id;
}

// ---- deployment system prompt (site_configs) ----

export interface SystemPromptRow {
  system_prompt: string;
  include_default_system_prompt: boolean;
}

/**
 * Both settings in one read. An unset include flag counts as true, unless a non-empty custom
 * prompt exists (before the flag existed, a custom prompt replaced the default).
 */
export async function readSystemPrompt(db: Db): Promise<SystemPromptRow> {
  const [row] = await db.query(
    `SELECT COALESCE((SELECT value FROM site_configs WHERE key = $1), '') AS system_prompt,
            COALESCE((SELECT value = 'true' FROM site_configs WHERE key = $2),
                     NOT EXISTS (SELECT 1 FROM site_configs WHERE key = $1 AND value <> '')) AS include_default_system_prompt`,
    [SITE_CONFIG_KEYS.systemPrompt, SITE_CONFIG_KEYS.includeDefaultSystemPrompt],
  );
  return row;
}

/**
 * Stores the prompt and the flag. With `include` undefined the flag keeps its effective value:
 * an unset flag is first written with the value it had (so changing the prompt never flips it).
 */
export async function writeSystemPrompt(db: Db, prompt: string, include: boolean | undefined): Promise<void> {
  if (include === undefined) {
    await db.query(
      `INSERT INTO site_configs (key, value)
       SELECT $1, CASE WHEN EXISTS (SELECT 1 FROM site_configs WHERE key = $2 AND value <> '') THEN 'false' ELSE 'true' END
       ON CONFLICT (key) DO NOTHING`,
      [SITE_CONFIG_KEYS.includeDefaultSystemPrompt, SITE_CONFIG_KEYS.systemPrompt],
    );
  } else {
    await db.query(
      `INSERT INTO site_configs (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [SITE_CONFIG_KEYS.includeDefaultSystemPrompt, include ? 'true' : 'false'],
    );
  }
  await db.query(
    `INSERT INTO site_configs (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
    [SITE_CONFIG_KEYS.systemPrompt, prompt],
  );
}
