// Read queries over chats for the API and the live-update sockets: one chat, the caller's
// root chats (pinned first, then most recently updated, keyset or offset paged), their
// children, the user-visible message pages and the queue. Writes live in ChatCommands.
import type { Chat, ChatMessagePart, ChatQueuedMessage } from '@agentmesh/contracts';
import { wireTime } from '@agentmesh/contracts';
import { queryRows } from '@agentmesh/db';
import { CHAT_MESSAGE_COLUMNS, toChatMessageRecord } from '@agentmesh/entities';
import type { ChatMessageRecord, Db } from '@agentmesh/entities';
import { CHAT_COLUMNS, ChatRow, toChat, toWirePart } from './chat-mapper';

/** A chat row with its unread flag (an assistant message after the owner's read cursor). */
export type ChatReadRow = ChatRow & { has_unread: boolean };

const HAS_UNREAD = `EXISTS (SELECT 1 FROM chat_messages m
   WHERE m.chat_id = c.id AND m.role = 'assistant' AND NOT m.deleted
     AND m.id > COALESCE(c.last_read_message_id, 0)) AS has_unread`;

/** An SQL fragment with its parameters numbered from `offset` (e.g. an RBAC filter). */
export type SqlFragment = (offset: number) => { sql: string; params: unknown[] };

export async function findChat(db: Db, chatId: string): Promise<ChatReadRow | undefined> {
  const [row] = await queryRows<ChatReadRow>(
    db,
    `SELECT ${CHAT_COLUMNS}, ${HAS_UNREAD} FROM chats c WHERE c.id = $1::uuid`,
    [chatId],
  );
  return row;
}

export interface ChatListOptions {
  ownerId: string;
  /** Undefined lists both. */
  archived?: boolean;
  /** Every map must be contained in the chat's labels (AND). */
  labels?: Record<string, string>[];
  /** Keyset cursor: rows after this chat in list order. */
  afterId?: string;
  offset?: number;
  limit: number;
  /** Extra condition, e.g. the caller's RBAC filter. */
  where?: SqlFragment;
}

// Pinned chats first by pin order, then the rest by most recent update; id breaks ties.
const LIST_ORDER = `(c.pin_order = 0), c.pin_order, c.updated_at DESC, c.id DESC`;
const AFTER_CURSOR = (p: string) => `EXISTS (SELECT 1 FROM chats a WHERE a.id = ${p}::uuid AND (
    (c.pin_order = 0) > (a.pin_order = 0)
    OR ((c.pin_order = 0) = (a.pin_order = 0) AND (
      c.pin_order > a.pin_order
      OR (c.pin_order = a.pin_order AND (
        c.updated_at < a.updated_at OR (c.updated_at = a.updated_at AND c.id < a.id)))))))`;

/** The owner's root chats (children embedded), in list order. */
export async function listRootChats(db: Db, opts: ChatListOptions): Promise<Chat[]> {
  const params: unknown[] = [opts.ownerId];
  const where = ['c.owner_id = $1::uuid', 'c.parent_chat_id IS NULL'];
  if (opts.archived !== undefined) {
    params.push(opts.archived);
    where.push(`c.archived = $${params.length}`);
  }
  for (const labels of opts.labels ?? []) {
    params.push(JSON.stringify(labels));
    where.push(`c.labels @> $${params.length}::jsonb`);
  }
  if (opts.afterId) {
    params.push(opts.afterId);
    where.push(AFTER_CURSOR(`$${params.length}`));
  }
  if (opts.where) {
    const f = opts.where(params.length + 1);
    params.push(...f.params);
    where.push(f.sql);
  }
  params.push(opts.limit, opts.offset ?? 0);
  const rows = await queryRows<ChatReadRow>(
    db,
    `SELECT ${CHAT_COLUMNS}, ${HAS_UNREAD} FROM chats c
      WHERE ${where.join(' AND ')}
      ORDER BY ${LIST_ORDER}
      LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  const children = await listChildren(
    db,
    rows.map((r) => r.id),
    opts.archived,
  );
  return rows.map((r) => toChat(r, { hasUnread: r.has_unread, children: children.get(r.id) ?? [] }));
}

/** Children of the given roots (same archived filter), oldest first, grouped by parent. */
export async function listChildren(
  db: Db,
  parentIds: readonly string[],
  archived?: boolean,
): Promise<Map<string, Chat[]>> {
  const out = new Map<string, Chat[]>();
  if (parentIds.length === 0) return out;
  const params: unknown[] = [parentIds];
  let archivedSql = '';
  if (archived !== undefined) {
    params.push(archived);
    archivedSql = ' AND c.archived = $2';
  }
  const rows = await queryRows<ChatReadRow>(
    db,
    `SELECT ${CHAT_COLUMNS}, ${HAS_UNREAD} FROM chats c
      WHERE c.parent_chat_id = ANY($1::uuid[])${archivedSql}
      ORDER BY c.created_at, c.id`,
    params,
  );
  for (const r of rows) {
    const parent = r.parent_chat_id ?? '';
    out.set(parent, [...(out.get(parent) ?? []), toChat(r, { hasUnread: r.has_unread })]);
  }
  return out;
}

/** One chat as GET /chats/{chat} shows it (children embedded for a root). */
export async function chatWithChildren(db: Db, row: ChatReadRow): Promise<Chat> {
  const children = row.parent_chat_id ? new Map<string, Chat[]>() : await listChildren(db, [row.id]);
  return toChat(row, { hasUnread: row.has_unread, children: children.get(row.id) ?? [] });
}

/**
 * A page of the messages a user sees (not deleted, visibility user or both), newest first;
 * `beforeId` continues below the oldest message of the previous page.
 */
export async function listVisibleMessages(
  db: Db,
  chatId: string,
  opts: { beforeId?: number; limit: number },
): Promise<{ messages: ChatMessageRecord[]; hasMore: boolean }> {
  const params: unknown[] = [chatId, opts.limit + 1];
  let before = '';
  if (opts.beforeId !== undefined) {
    params.push(opts.beforeId);
    before = ' AND id < $3::bigint';
  }
  const rows = await queryRows<Record<string, unknown>>(
    db,
    `SELECT ${CHAT_MESSAGE_COLUMNS} FROM chat_messages
      WHERE chat_id = $1::uuid AND NOT deleted AND visibility IN ('user', 'both')${before}
      ORDER BY id DESC
      LIMIT $2`,
    params,
  );
  return { messages: rows.slice(0, opts.limit).map(toChatMessageRecord), hasMore: rows.length > opts.limit };
}

export interface QueuedMessageRow {
  id: string | number;
  chat_id: string;
  content: ChatMessagePart[];
  created_at: Date;
  model_config_id: string | null;
}

export const QUEUED_COLUMNS = 'id, chat_id, content, created_at, model_config_id';

export function toQueuedMessage(r: QueuedMessageRow): ChatQueuedMessage {
  return {
    id: Number(r.id),
    chat_id: r.chat_id,
    content: (r.content ?? []).map(toWirePart),
    created_at: wireTime(r.created_at),
    ...(r.model_config_id ? { model_config_id: r.model_config_id } : {}),
  };
}

/** The chat's queue, FIFO. */
export async function listQueuedMessages(db: Db, chatId: string): Promise<ChatQueuedMessage[]> {
  const rows = await queryRows<QueuedMessageRow>(
    db,
    `SELECT ${QUEUED_COLUMNS} FROM chat_queued_messages WHERE chat_id = $1::uuid ORDER BY id`,
    [chatId],
  );
  return rows.map(toQueuedMessage);
}
