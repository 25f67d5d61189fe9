// The model a chat's next call runs on: the chat's model config (falling back to the default
// when that config was deleted), with its provider connection and the deployment key
// decrypted. Used by the worker's turns and by title generation.
import type { DataSource } from 'typeorm';
import type { ChatModelCallConfig, ChatProviderType } from '@agentmesh/contracts';
import type { Ciphers } from '@agentmesh/crypto';

export interface TurnModel {
  modelConfigId: string;
  provider: ChatProviderType;
  model: string;
  contextLimit: number;
  options: ChatModelCallConfig;
  apiKey?: string;
  baseUrl?: string;
}

export class TurnSetupError extends Error {}

interface ConfigRow {
  id: string;
  provider: ChatProviderType;
  model: string;
  context_limit: string;
  options: ChatModelCallConfig;
  deleted: boolean;
  api_key: string | null;
  api_key_key_id: string | null;
  base_url: string | null;
  provider_enabled: boolean | null;
  central_api_key_enabled: boolean | null;
}

const CONFIG_SQL = `SELECT m.id, m.provider, m.model, m.context_limit, m.options, m.deleted,
    p.api_key, p.api_key_key_id, p.base_url, p.enabled AS provider_enabled, p.central_api_key_enabled
  FROM chat_model_configs m LEFT JOIN chat_providers p ON p.provider = m.provider`;

/** The chat's model config, or the default when it was deleted since. */
export async function loadTurnModel(
  ds: DataSource,
  ciphers: Ciphers,
  modelConfigId: string,
): Promise<TurnModel> {
  let [row]: ConfigRow[] = await ds.query(`${CONFIG_SQL} WHERE m.id = $1`, [modelConfigId]);
  if (!row || row.deleted) {
    [row] = await ds.query(`${CONFIG_SQL} WHERE m.is_default AND NOT m.deleted`);
    if (!row) throw new TurnSetupError('no default chat model config is available');
  }
  if (row.provider_enabled === null)
    throw new TurnSetupError(`Chat provider "${row.provider}" is not configured.`);
  if (!row.provider_enabled) throw new TurnSetupError(`Chat provider "${row.provider}" is disabled.`);
  // The deployment's key is used only when the provider allows central keys (user keys: later).
  const apiKey =
    row.api_key && row.central_api_key_enabled ? ciphers.decrypt(row.api_key, row.api_key_key_id) : undefined;
  return {
    modelConfigId: row.id,
    provider: row.provider,
    model: row.model,
    contextLimit: Number(row.context_limit),
    options: row.options ?? {},
    apiKey: apiKey || undefined,
    baseUrl: row.base_url || undefined,
  };
}
