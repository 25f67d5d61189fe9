// Postgres reads and writes of the stream socket: the snapshot (status, owning worker, the
// visible messages after `after_id` in ascending order, the queue) read in one REPEATABLE
// READ transaction so the three agree (a promoted queue entry is in exactly one of them),
// with the newest message id the snapshot covers; and the read cursor
// (`chats.last_read_message_id`) moved forward to a message the socket has sent.
import type { ChatMessage, ChatQueuedMessage, ChatStatus } from '@agentmesh/contracts';
import { listQueuedMessages, toChatMessage } from '@agentmesh/chats';
import { inTransaction, queryRows } from '@agentmesh/db';
import { CHAT_MESSAGE_COLUMNS, toChatMessageRecord } from '@agentmesh/entities';
import type { DataSource } from 'typeorm';

export interface StreamSnapshotState {
  status: ChatStatus;
  workerId: string | null;
  messages: ChatMessage[];
  queue: ChatQueuedMessage[];
  /**
   * The newest message (any visibility, not deleted) the read saw, null for none: once the
   * snapshot is sent, the client has every message it may see up to this id.
   */
  newestMessageId: number | null;
}

/** The snapshot of a chat for a socket; undefined when the chat no longer exists. */
export async function readStreamSnapshot(
  ds: DataSource,
  chatId: string,
  afterId: number,
): Promise<StreamSnapshotState | undefined> {
  return inTransaction(
    ds,
    async (em) => {
      const [chat] = await queryRows<{
        status: ChatStatus;
        worker_id: string | null;
        newest_id: string | null;
      }>(
        em,
        `SELECT status, worker_id,
                (SELECT max(id)::text FROM chat_messages WHERE chat_id = $1::uuid AND NOT deleted) AS newest_id
           FROM chats WHERE id = $1::uuid`,
        [chatId],
      );
      if (!chat) return undefined;
      const rows = await queryRows<Record<string, unknown>>(
        em,
        `SELECT ${CHAT_MESSAGE_COLUMNS} FROM chat_messages
          WHERE chat_id = $1::uuid AND NOT deleted AND visibility IN ('user', 'both') AND id > $2::bigint
          ORDER BY id`,
        [chatId, afterId],
      );
      return {
        status: chat.status,
        workerId: chat.worker_id,
        messages: rows.map((r) => toChatMessage(toChatMessageRecord(r))),
        queue: await listQueuedMessages(em, chatId),
        newestMessageId: chat.newest_id == null ? null : Number(chat.newest_id),
      };
    },
    { isolation: 'REPEATABLE READ' },
  );
}

/**
 * Marks the chat read by its owner up to `upTo`, the newest message the socket has sent: the
 * cursor moves forward to the newest existing message at or below it (never back, so
 * concurrent sockets cannot rewind it; no write when it is already there). Only the owner's
 * own sockets move it — it is the owner's unread flag.
 */
export async function markChatRead(
  ds: DataSource,
  chatId: string,
  ownerId: string,
  upTo: number,
): Promise<void> {
  await ds.query(
    `UPDATE chats c SET last_read_message_id = m.newest
       FROM (SELECT max(id) AS newest FROM chat_messages
              WHERE chat_id = $1::uuid AND NOT deleted AND id <= $3::bigint) m
      WHERE c.id = $1::uuid AND c.owner_id = $2::uuid AND m.newest IS NOT NULL
        AND (c.last_read_message_id IS NULL OR c.last_read_message_id < m.newest)`,
    [chatId, ownerId, upTo],
  );
}
