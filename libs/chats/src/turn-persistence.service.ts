// The worker's writes to a chat, each in one transaction that re-locks the chat row:
// - persistStep: a step's assistant and tool rows, only while the worker still owns the
//   chat (an interrupt, which sets waiting, still lets the partial answer land; an edit,
//   which hands the chat back to pending, blocks the stale worker);
// - finishTurn: the final status, promoting the next queued message when the chat becomes
//   waiting, with the status_change event written to the outbox in the same transaction.
// After commit the stream events go out on `{p}.chat.{id}.stream` for every socket.
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { ChatStatus, ChatStreamError, ChatStreamEvent } from '@agentmesh/contracts';
import { BusService, OutboxService, Subjects } from '@agentmesh/bus';
import { inTransaction, queryRows } from '@agentmesh/db';
import { ChatMessageRecord, insertChatMessages, NewChatMessage } from '@agentmesh/entities';
import { CHAT_COLUMNS, ChatRow, toChatMessage } from './chat-mapper';
import { enqueueChatEvent } from './chat-events';
import { listQueuedMessages } from './chat-queries';

export type TurnOutcome =
  | { status: 'waiting' }
  | { status: 'pending' }
  /** `error` adds what clients may show beside the message (kind, provider, status code). */
  | { status: 'error'; lastError: string; error?: Omit<ChatStreamError, 'message' | 'retryable'> };

export interface FinishResult {
  /** False when the chat belongs to someone else now (nothing was written). */
  applied: boolean;
  status?: ChatStatus;
  promotedMessageId?: number;
}

@Injectable()
export class TurnPersistence {
  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusService,
    private readonly outbox: OutboxService,
  ) {}

  /** Writes a step's rows; undefined when the worker no longer owns the chat. */
  async persistStep(
    chatId: string,
    workerId: string,
    rows: NewChatMessage[],
  ): Promise<ChatMessageRecord[] | undefined> {
    const saved = await inTransaction(this.ds, async (em) => {
      const chat = await lockChat(em, chatId);
      // Only the owning worker writes, while running or after an interrupt (which keeps the
      // worker id). An edit, a steal or another worker's finished turn makes this a no-op.
      if (!chat || chat.worker_id !== workerId || (chat.status !== 'running' && chat.status !== 'waiting'))
        return undefined;
      return insertChatMessages(em, chatId, rows);
    });
    if (saved?.length)
      this.publish(
        chatId,
        saved.map((m) => ({ type: 'message', chat_id: chatId, message: toChatMessage(m) })),
      );
    return saved;
  }

  async finishTurn(chatId: string, workerId: string, outcome: TurnOutcome): Promise<FinishResult> {
    const result = await inTransaction(this.ds, async (em) => {
      const chat = await lockChat(em, chatId);
      if (!chat) return { applied: false as const };
      // Not ours any more (another worker, an edit, a recovery): nothing to touch.
      if (chat.worker_id !== workerId) return { applied: false as const };
      // A user interrupt (the chat is waiting, still with this worker's id) wins over however
      // the turn ended (the reference maps interrupt → waiting): an error or a hand-back on
      // shutdown that raced it leaves the chat waiting, and its queue is promoted.
      let status: ChatStatus = chat.status === 'waiting' ? 'waiting' : outcome.status;
      let promoted: ChatMessageRecord | undefined;
      if (status === 'waiting' && !chat.archived) {
        const [next] = await queryRows<{ content: unknown[]; model_config_id: string | null }>(
          em,
          `DELETE FROM chat_queued_messages WHERE id = (
             SELECT id FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id LIMIT 1 FOR UPDATE)
           RETURNING content, model_config_id`,
          [chatId],
        );
        if (next) {
          [promoted] = await insertChatMessages(em, chatId, [
            {
              role: 'user',
              content: next.content,
              createdBy: chat.owner_id,
              modelConfigId: next.model_config_id,
            },
          ]);
          status = 'pending';
        }
      }
      const queue = promoted ? await listQueuedMessages(em, chatId) : undefined;
      const [row] = await queryRows<ChatRow>(
        em,
        `UPDATE chats c SET status = $2, last_error = $3, worker_id = NULL, updated_at = now()
          WHERE c.id = $1 RETURNING ${CHAT_COLUMNS}`,
        [chatId, status, status === 'error' && outcome.status === 'error' ? outcome.lastError : null],
      );
      await enqueueChatEvent(this.outbox, em, 'status_change', row);
      return { applied: true as const, status, promoted, queue, row };
    });
    if (!result.applied) return { applied: false };
    this.outbox.kick();
    const events: ChatStreamEvent[] = [];
    if (result.promoted) {
      events.push({ type: 'message', chat_id: chatId, message: toChatMessage(result.promoted) });
      events.push({ type: 'queue_update', chat_id: chatId, queued_messages: result.queue ?? [] });
    }
    events.push({ type: 'status', chat_id: chatId, status: { status: result.status } });
    if (result.status === 'error' && outcome.status === 'error') {
      events.push({
        type: 'error',
        chat_id: chatId,
        error: { ...outcome.error, message: outcome.lastError, retryable: false },
      });
    }
    this.publish(chatId, events);
    if (result.status === 'pending') this.bus.publish(Subjects.chatdWake, { v: 1, chat_id: chatId });
    return {
      applied: true,
      status: result.status,
      promotedMessageId: result.promoted ? Number(result.promoted.id) : undefined,
    };
  }

  /**
   * A status_change lifecycle event for each chat, with the chat as it is now, through the
   * outbox: the worker's own transitions (a turn starting, stale recovery, a hand-back on
   * shutdown), which no HTTP request or turn end announces, reach `/watch` sockets and
   * CHAT_EVENTS consumers too. Through the outbox, so a turn's `running` always goes out
   * before the same worker's turn end.
   */
  async announceStatus(chatIds: readonly string[]): Promise<void> {
    if (chatIds.length === 0) return;
    await inTransaction(this.ds, async (em) => {
      const rows = await queryRows<ChatRow>(
        em,
        `SELECT ${CHAT_COLUMNS} FROM chats c WHERE c.id = ANY($1::uuid[])`,
        [chatIds],
      );
      for (const row of rows) await enqueueChatEvent(this.outbox, em, 'status_change', row);
    });
    this.outbox.kick();
  }

  /**
   * Stream events for every socket watching the chat (any replica). Best effort: the rows are
   * committed, and sockets resync from Postgres, so a publish failure (NATS down) must not
   * fail the caller.
   */
  publish(chatId: string, events: ChatStreamEvent[]): void {
    if (events.length === 0) return;
    try {
      this.bus.publish(Subjects.chatStream, { v: 1, events }, chatId);
    } catch {
      // Sockets reconnect with after_id when NATS comes back (chat-api closes them on reconnect).
    }
  }
}

async function lockChat(
  em: EntityManager,
  chatId: string,
): Promise<Pick<ChatRow, 'status' | 'worker_id' | 'archived' | 'owner_id'> | undefined> {
  const rows = await em.query(
    `SELECT status, worker_id, archived, owner_id FROM chats WHERE id = $1 FOR UPDATE`,
    [chatId],
  );
  return rows[0];
}
