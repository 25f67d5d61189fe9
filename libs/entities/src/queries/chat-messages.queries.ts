// Hand-written SQL for chat messages: the batched insert every writer uses (chat creation,
// user messages, each persisted step), the newest-first pages and the edit's soft delete.
// bigint columns arrive from node-postgres as strings; records carry them as numbers
// (message ids, token counts and micros stay far below 2^53).
import type { ChatMessageRole, ChatMessageVisibility } from '@agentmesh/contracts';
import { queryRows } from '@agentmesh/db';
import type { Db } from './users.queries';

/** Version of the stored parts format written by this code. */
export const CHAT_MESSAGE_CONTENT_VERSION = 1;

/** One message to insert. Usage and cost values of zero are stored as NULL. */
export interface NewChatMessage {
  role: ChatMessageRole;
  /** The message parts, stored as a jsonb array. */
  content: readonly unknown[] | null;
  /** Default 'both'. */
  visibility?: ChatMessageVisibility;
  modelConfigId?: string | null;
  /** The user who wrote it; null for model output and system messages. */
  createdBy?: string | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  totalTokens?: number | null;
  reasoningTokens?: number | null;
  cacheCreationTokens?: number | null;
  cacheReadTokens?: number | null;
  contextLimit?: number | null;
  totalCostMicros?: number | null;
  runtimeMs?: number | null;
  /** An empty id is stored as NULL. */
  providerResponseId?: string | null;
  /** Default CHAT_MESSAGE_CONTENT_VERSION. */
  contentVersion?: number;
  /** A compaction summary. Default false. */
  compressed?: boolean;
}

export interface ChatMessageRecord {
  id: number;
  chat_id: string;
  model_config_id: string | null;
  created_at: Date;
  role: ChatMessageRole;
  content: unknown[] | null;
  visibility: ChatMessageVisibility;
  input_tokens: number | null;
  output_tokens: number | null;
  total_tokens: number | null;
  reasoning_tokens: number | null;
  cache_creation_tokens: number | null;
  cache_read_tokens: number | null;
  context_limit: number | null;
  compressed: boolean;
  created_by: string | null;
  content_version: number;
  total_cost_micros: number | null;
  runtime_ms: number | null;
  deleted: boolean;
  provider_response_id: string | null;
}

const BIGINT_FIELDS = [
  'id',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'reasoning_tokens',
  'cache_creation_tokens',
  'cache_read_tokens',
  'context_limit',
  'total_cost_micros',
  'runtime_ms',
] as const;

type RawMessageRow = Omit<ChatMessageRecord, (typeof BIGINT_FIELDS)[number]> &
  Record<(typeof BIGINT_FIELDS)[number], string | null>;

/** A raw `chat_messages` row (bigint columns as strings) as a record with numbers. */
export function toChatMessageRecord(row: RawMessageRow | Record<string, unknown>): ChatMessageRecord {
  const out = { ...row } as unknown as Record<string, unknown>;
  for (const f of BIGINT_FIELDS) out[f] = out[f] == null ? null : Number(out[f]);
  return out as unknown as ChatMessageRecord;
}

/** Every column of `chat_messages`, in the order ChatMessageRecord lists them. */
export const CHAT_MESSAGE_COLUMNS = `id, chat_id, model_config_id, created_at, role, content, visibility, input_tokens,
  output_tokens, total_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens, context_limit,
  compressed, created_by, content_version, total_cost_micros, runtime_ms, deleted, provider_response_id`;

// One statement: the rows arrive as parallel arrays, unnested WITH ORDINALITY and inserted in
// input order (so ids ascend in that order); a data-modifying CTE points the chat at the
// batch's last non-null model config (unchanged when there is none) and touches updated_at.
// Content travels as JSON text: a JS array of arrays would become a 2-D SQL array.
const INSERT_MESSAGES = `
  WITH input AS (
    SELECT * FROM unnest(
      $2::text[], $3::chat_message_role[], $4::chat_message_visibility[], $5::uuid[], $6::uuid[],
      $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
      $14::bigint[], $15::bigint[], $16::text[], $17::smallint[], $18::boolean[]
    ) WITH ORDINALITY AS t(content, role, visibility, model_config_id, created_by,
      input_tokens, output_tokens, total_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
      context_limit, total_cost_micros, runtime_ms, provider_response_id, content_version, compressed, ord)
  ),
  inserted AS (
    INSERT INTO chat_messages (chat_id, content, role, visibility, model_config_id, created_by,
      input_tokens, output_tokens, total_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
      context_limit, total_cost_micros, runtime_ms, provider_response_id, content_version, compressed)
    SELECT $1::uuid, content::jsonb, role, visibility, model_config_id, created_by,
           NULLIF(input_tokens, 0), NULLIF(output_tokens, 0), NULLIF(total_tokens, 0),
           NULLIF(reasoning_tokens, 0), NULLIF(cache_creation_tokens, 0), NULLIF(cache_read_tokens, 0),
           NULLIF(context_limit, 0), NULLIF(total_cost_micros, 0), NULLIF(runtime_ms, 0),
           NULLIF(provider_response_id, ''), content_version, compressed
      FROM input
     ORDER BY ord
    RETURNING ${CHAT_MESSAGE_COLUMNS}
  ),
  touched AS (
    UPDATE chats
       SET last_model_config_id = COALESCE(
             (SELECT model_config_id FROM input WHERE model_config_id IS NOT NULL ORDER BY ord DESC LIMIT 1),
             last_model_config_id),
           updated_at = now()
     WHERE id = $1::uuid
    RETURNING id
  )
  SELECT ${CHAT_MESSAGE_COLUMNS} FROM inserted ORDER BY id`;

/**
 * Inserts a batch of messages into a chat in one statement and returns them in input order
 * (ids ascending). The same statement sets `chats.last_model_config_id` to the batch's last
 * non-null model config id and touches `chats.updated_at`. An unknown chat fails the
 * statement (foreign key), so nothing is written.
 */
export async function insertChatMessages(
  db: Db,
  chatId: string,
  rows: readonly NewChatMessage[],
): Promise<ChatMessageRecord[]> {
  if (rows.length === 0) return [];
  const col = <T>(pick: (r: NewChatMessage) => T): T[] => rows.map(pick);
  const params = [
    chatId,
    col((r) => (r.content == null ? null : JSON.stringify(r.content))),
    col((r) => r.role),
    col((r) => r.visibility ?? 'both'),
    col((r) => r.modelConfigId ?? null),
    col((r) => r.createdBy ?? null),
    col((r) => r.inputTokens ?? null),
    col((r) => r.outputTokens ?? null),
    col((r) => r.totalTokens ?? null),
    col((r) => r.reasoningTokens ?? null),
    col((r) => r.cacheCreationTokens ?? null),
    col((r) => r.cacheReadTokens ?? null),
    col((r) => r.contextLimit ?? null),
    col((r) => r.totalCostMicros ?? null),
    col((r) => r.runtimeMs ?? null),
    col((r) => r.providerResponseId ?? null),
    col((r) => r.contentVersion ?? CHAT_MESSAGE_CONTENT_VERSION),
    col((r) => r.compressed ?? false),
  ];
  const inserted = await queryRows<RawMessageRow>(db, INSERT_MESSAGES, params);
  return inserted.map(toChatMessageRecord);
}

export interface ChatMessagePage {
  /** Newest first. */
  messages: ChatMessageRecord[];
  /** More (older) messages exist before the last one returned. */
  hasMore: boolean;
}

/**
 * One page of a chat's live (not deleted) messages, newest first; `beforeId` continues
 * below the oldest message of the previous page. Reads idx_chat_messages_chat backwards.
 */
export async function listChatMessages(
  db: Db,
  chatId: string,
  opts: { beforeId?: number; limit: number },
): Promise<ChatMessagePage> {
  if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new RangeError(`invalid limit: ${opts.limit}`);
  const params: unknown[] = [chatId, opts.limit + 1];
  let before = '';
  if (opts.beforeId != null) {
    params.push(opts.beforeId);
    before = ' AND id < $3::bigint';
  }
  const rows = await queryRows<RawMessageRow>(
    db,
    `SELECT ${CHAT_MESSAGE_COLUMNS} FROM chat_messages
      WHERE chat_id = $1::uuid AND NOT deleted${before}
      ORDER BY id DESC
      LIMIT $2`,
    params,
  );
  const hasMore = rows.length > opts.limit;
  return { messages: rows.slice(0, opts.limit).map(toChatMessageRecord), hasMore };
}

/**
 * The edit rule: soft-deletes the target message and every later message of the chat.
 * Does nothing when the target is not a live message of this chat. Returns how many
 * messages were deleted.
 */
export async function softDeleteMessagesFrom(db: Db, chatId: string, messageId: number): Promise<number> {
  const rows = await queryRows<{ id: string }>(
    db,
    `UPDATE chat_messages SET deleted = true
      WHERE chat_id = $1::uuid AND id >= $2::bigint AND NOT deleted
        AND EXISTS (SELECT 1 FROM chat_messages t WHERE t.id = $2::bigint AND t.chat_id = $1::uuid AND NOT t.deleted)
      RETURNING id`,
    [chatId, messageId],
  );
  return rows.length;
}
