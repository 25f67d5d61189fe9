// Everything a turn needs from the database: the chat's model (falling back to the default
// when the chat's config was deleted), the provider connection with its key decrypted, and
// the model-visible history as AI SDK messages.
import type { ModelMessage } from 'ai';
import type { DataSource } from 'typeorm';
import type { ChatMessagePart, ChatModelCallConfig, ChatProviderType } from '@agentmesh/contracts';
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

interface HistoryRow {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: ChatMessagePart[] | null;
}

/** Model-visible, non-deleted messages in order: system text apart, the rest as messages. */
export async function loadHistory(
  ds: DataSource,
  chatId: string,
): Promise<{ system: string; messages: ModelMessage[] }> {
  const rows: HistoryRow[] = await ds.query(
    `SELECT role, content FROM chat_messages
      WHERE chat_id = $1 AND NOT deleted AND visibility IN ('model', 'both')
      ORDER BY id`,
    [chatId],
  );
  const system: string[] = [];
  const messages: ModelMessage[] = [];
  for (const r of rows) {
    const parts = r.content ?? [];
    const text = parts
      .filter((p) => p.type === 'text' && p.text)
      .map((p) => ({ type: 'text' as const, text: p.text as string }));
    if (r.role === 'system') system.push(text.map((t) => t.text).join('\n'));
    else if (r.role === 'user' && text.length > 0) messages.push({ role: 'user', content: text });
    else if (r.role === 'assistant' && text.length > 0) messages.push({ role: 'assistant', content: text });
  }
  return { system: system.filter(Boolean).join('\n\n'), messages };
}
