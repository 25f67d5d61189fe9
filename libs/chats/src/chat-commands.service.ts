// The user-side state transitions of a chat: create, update (title, archive, pin, labels,
// plan mode), send (direct or queued, with the busy behaviours), edit, queue delete and
// promote, interrupt. Each is one transaction that locks the chat row it changes and writes
// its lifecycle events to the outbox in the same transaction; after commit the outbox is
// kicked and the signals go out: stream events on `{p}.chat.{id}.stream`, `chatd.wake` when
// the chat became pending, `chatd.control.{worker}` when a running worker must stop.
//
// Worker interplay (see TurnPersistence): a running chat that is interrupted or archived
// becomes `waiting` but keeps its worker_id, which says "a worker is winding down": that
// worker may still persist its partial answer and its finishTurn promotes the queue. Every
// transition to `pending` here clears worker_id, which blocks a stale worker's writes. A
// chat that is waiting or in error with no live worker is idle; a non-empty queue on an idle
// chat is promoted at once, since no worker cleanup will do it.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import type {
  Chat,
  ChatClientType,
  ChatMessagePart,
  ChatQueuedMessage,
  ChatStatus,
  ChatStreamEvent,
  ChatWatchKind,
  ChatdControlSignal,
} from '@agentmesh/contracts';
import { BusService, OutboxService, Subjects } from '@agentmesh/bus';
import { inTransaction, queryRows } from '@agentmesh/db';
import {
  ChatMessageRecord,
  insertChatMessages,
  isUuid,
  NewChatMessage,
  softDeleteMessagesFrom,
  TITLE_LOCK_WORKER_ID,
} from '@agentmesh/entities';
import { LOGGER } from '@agentmesh/observability';
import { CHAT_COLUMNS, ChatRow, toChat, toChatMessage } from './chat-mapper';
import { enqueueChatEvent } from './chat-events';
import { ChatCommandError, ChatErrors } from './chat-errors';
import {
  chatSystemPrompt,
  DynamicToolDefinition,
  fallbackChatTitle,
  normalizeTitle,
  partsText,
  presentUuid,
  validateLabels,
} from './chat-input';
import { NO_WORKSPACE_AWARENESS, TOOL_INTERRUPTED_BY_USER } from './chat-prompts';
import { assertNoTitleLock } from './chat-titles.service';
import { QUEUED_COLUMNS, QueuedMessageRow, toQueuedMessage } from './chat-queries';

/** At most this many messages wait in a chat's queue (429 beyond). */
export const MAX_QUEUED_MESSAGES = 20;
/**
 * A worker winding down after an interrupt normally finishes within seconds; one silent for
 * longer (its heartbeat stopped when the chat left `running`) is presumed gone, so the chat
 * counts as idle again and its queue can move.
 */
export const WIND_DOWN_GRACE_SECONDS = 60;

export const BUSY_BEHAVIOR_VALUES = ['queue', 'interrupt'] as const;

export interface CreateChatCommand {
  ownerId: string;
  organizationId: string;
  /** The first user message, already parsed (parseChatInputParts). */
  content: ChatMessagePart[];
  /** The deployment system prompt, resolved by the caller; '' when there is none. */
  deploymentSystemPrompt: string;
  /** The per-chat system prompt (sanitized here, ≤ 10 000 chars). */
  systemPrompt?: string;
  /** Absent: the default config. */
  modelConfigId?: string;
  labels?: Record<string, string>;
  planMode?: 'plan' | null;
  clientType?: ChatClientType;
  mcpServerIds?: string[];
  dynamicTools?: DynamicToolDefinition[] | null;
}

export interface CreatedChat {
  chat: Chat;
  /** The seed messages in insertion order (ids ascending). */
  messages: ChatMessageRecord[];
}

export interface UpdateChatCommand {
  title?: string;
  archived?: boolean;
  pinOrder?: number;
  /** Replaces the whole map. */
  labels?: Record<string, string>;
  /** null clears it. */
  planMode?: 'plan' | null;
  /** null unbinds the workspace. */
  workspaceId?: string | null;
}

export interface SendMessageCommand {
  content: ChatMessagePart[];
  createdBy: string;
  /** 'queue' (default, also for '') or 'interrupt'; anything else is refused. */
  busyBehavior?: string;
  modelConfigId?: string;
  planMode?: 'plan' | null;
  /** Absent or null: unchanged; an array replaces the chat's MCP servers. */
  mcpServerIds?: string[] | null;
}

export interface SendMessageResult {
  queued: boolean;
  message?: ChatMessageRecord;
  queuedMessage?: ChatQueuedMessage;
}

/** A locked chat row plus what the transitions need to know about its worker. */
type LockedChat = ChatRow & { worker_gone: boolean; started_at?: Date | null };

/** What to do once the transaction has committed (collected per attempt). */
class AfterCommit {
  outbox = false;
  readonly events = new Map<string, ChatStreamEvent[]>();
  readonly wake = new Set<string>();
  readonly controls: { workerId: string; signal: ChatdControlSignal }[] = [];

  stream(chatId: string, ...events: ChatStreamEvent[]): void {
    const list = this.events.get(chatId) ?? [];
    list.push(...events);
    this.events.set(chatId, list);
  }
}

@Injectable()
export class ChatCommands {
  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusService,
    private readonly outbox: OutboxService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Creates a pending chat with its seed messages in one batched insert: deployment prompt,
   * per-chat prompt, workspace awareness (all system, model-only), then the user message.
   * Authorization (membership, the create gate) is the caller's.
   */
  async createChat(input: CreateChatCommand): Promise<CreatedChat> {
    if (input.content.length === 0) throw ChatCommandError.badRequest(ChatErrors.contentRequired);
    const perChatPrompt = chatSystemPrompt(input.systemPrompt);
    const labels = input.labels === undefined ? {} : validateLabels(input.labels);
    if (input.mcpServerIds?.length) throw ChatCommandError.badRequest(ChatErrors.invalidMcpServers);
    const title = fallbackChatTitle(partsText(input.content));
    const { result, fx } = await this.tx(async (em, fx) => {
      const modelConfigId = await this.resolveModelConfig(em, input.modelConfigId);
      const [row] = await queryRows<ChatRow>(
        em,
        `INSERT INTO chats AS c (owner_id, organization_id, title, status, last_model_config_id, labels,
            plan_mode, client_type, mcp_server_ids, dynamic_tools)
         VALUES ($1, $2, $3, 'pending', $4, $5::jsonb, $6, $7, $8::uuid[], $9::jsonb)
         RETURNING ${CHAT_COLUMNS}`,
        [
          input.ownerId,
          input.organizationId,
          title,
          modelConfigId,
          JSON.stringify(labels),
          input.planMode ?? null,
          input.clientType ?? 'api',
          [],
          input.dynamicTools?.length ? JSON.stringify(input.dynamicTools) : null,
        ],
      );
      const system = (text: string): NewChatMessage => ({
        role: 'system',
        content: [{ type: 'text', text }],
        visibility: 'model',
      });
      const seed: NewChatMessage[] = [];
      const deployment = input.deploymentSystemPrompt.trim();
      if (deployment) seed.push(system(deployment));
      if (perChatPrompt) seed.push(system(perChatPrompt));
      seed.push(system(NO_WORKSPACE_AWARENESS));
      seed.push({
        role: 'user',
        content: input.content,
        visibility: 'both',
        createdBy: input.ownerId,
        modelConfigId,
      });
      // The insert touches updated_at with the same now() as the chat row: `row` stays exact.
      const messages = await insertChatMessages(em, row.id, seed);
      await this.event(em, fx, 'created', row);
      fx.wake.add(row.id);
      return { chat: toChat(row), messages };
    });
    this.flush(fx);
    return result;
  }

  /** PATCH: title, archive state, pin order, labels, plan mode, workspace unbinding. */
  async updateChat(chatId: string, patch: UpdateChatCommand): Promise<Chat> {
    const title = patch.title === undefined ? undefined : normalizeTitle(patch.title);
    const labels = patch.labels === undefined ? undefined : validateLabels(patch.labels);
    if (patch.pinOrder !== undefined && patch.pinOrder < 0)
      throw ChatCommandError.badRequest(ChatErrors.pinNegative);
    if (patch.workspaceId) throw ChatCommandError.badRequest(ChatErrors.workspaceNotFound);
    const { result, fx } = await this.tx(async (em, fx) => {
      // Archiving unpins: it changes the owner's pins as a pin change does, so it takes the
      // same lock (else a concurrent renumbering could pin the chat again after the archive).
      if (patch.pinOrder !== undefined || patch.archived !== undefined) await this.lockPinsOf(em, chatId);
      const chat = await this.lock(em, chatId);
      if (title !== undefined && title !== chat.title) await assertNoTitleLock(em, chatId);

      if (patch.archived !== undefined && patch.archived === chat.archived)
        throw ChatCommandError.badRequest(
          chat.archived ? ChatErrors.alreadyArchived : ChatErrors.alreadyUnarchived,
        );
      if (patch.archived === false && chat.parent_chat_id) {
        const [parent] = await em.query(`SELECT archived FROM chats WHERE id = $1`, [chat.parent_chat_id]);
        if (parent?.archived) throw ChatCommandError.badRequest(ChatErrors.parentArchived);
      }
      const archivedAfter = patch.archived ?? chat.archived;
      if (patch.pinOrder !== undefined && patch.pinOrder > 0 && archivedAfter)
        throw ChatCommandError.badRequest(ChatErrors.pinArchived);

      if (
        title !== undefined ||
        labels !== undefined ||
        patch.planMode !== undefined ||
        patch.workspaceId === null
      ) {
        const [row] = await queryRows<ChatRow>(
          em,
          `UPDATE chats c SET
              title = COALESCE($2, c.title),
              labels = COALESCE($3::jsonb, c.labels),
              plan_mode = CASE WHEN $4 THEN $5::chat_plan_mode ELSE c.plan_mode END,
              workspace_id = CASE WHEN $6 THEN NULL ELSE c.workspace_id END,
              build_id = CASE WHEN $6 THEN NULL ELSE c.build_id END,
              agent_id = CASE WHEN $6 THEN NULL ELSE c.agent_id END,
              updated_at = now()
            WHERE c.id = $1 RETURNING ${CHAT_COLUMNS}`,
          [
            chatId,
            title ?? null,
            labels === undefined ? null : JSON.stringify(labels),
            patch.planMode !== undefined,
            patch.planMode ?? null,
            patch.workspaceId === null,
          ],
        );
        if (title !== undefined && title !== chat.title) await this.event(em, fx, 'title_change', row);
      }

      if (patch.archived === true) await this.archiveFamily(em, fx, chat);
      if (patch.archived === false) await this.unarchiveFamily(em, fx, chatId);
      if (patch.pinOrder !== undefined) await this.setPinOrder(em, chatId, patch.pinOrder);
      return toChat(await this.reload(em, chatId));
    });
    this.flush(fx);
    return result;
  }

  /**
   * SendMessage. Busy (running, pending, requires_action, or a non-empty queue): the message
   * is queued (429 past 20); with `interrupt` the chat is also set waiting (a pending chat
   * stays pending) and the worker's cleanup promotes the queue. Idle: the message is inserted
   * and the chat becomes pending.
   */
  async sendMessage(chatId: string, input: SendMessageCommand): Promise<SendMessageResult> {
    const behavior = input.busyBehavior || 'queue';
    if (!(BUSY_BEHAVIOR_VALUES as readonly string[]).includes(behavior))
      throw ChatCommandError.badRequest(ChatErrors.invalidBusyBehavior);
    if (input.content.length === 0) throw ChatCommandError.badRequest(ChatErrors.contentRequired);
    if (input.mcpServerIds?.length) throw ChatCommandError.badRequest(ChatErrors.invalidMcpServers);
    const { result, fx } = await this.tx(async (em, fx) => {
      const before = await this.lock(em, chatId);
      if (before.archived) throw ChatCommandError.badRequest(ChatErrors.chatArchived);
      const given = presentUuid(input.modelConfigId);
      const modelConfigId = given ? await this.resolveModelConfig(em, given) : undefined;
      if (input.planMode !== undefined || input.mcpServerIds != null) {
        await em.query(
          `UPDATE chats SET plan_mode = CASE WHEN $2 THEN $3::chat_plan_mode ELSE plan_mode END,
              mcp_server_ids = COALESCE($4::uuid[], mcp_server_ids)
            WHERE id = $1`,
          [chatId, input.planMode !== undefined, input.planMode ?? null, input.mcpServerIds ?? null],
        );
      }
      const [{ n }] = await em.query(
        `SELECT count(*)::int AS n FROM chat_queued_messages WHERE chat_id = $1`,
        [chatId],
      );
      const busy = ['running', 'pending', 'requires_action'].includes(before.status) || n > 0;
      if (!busy) {
        const [message] = await insertChatMessages(em, chatId, [
          {
            role: 'user',
            content: input.content,
            createdBy: input.createdBy,
            modelConfigId: modelConfigId ?? before.last_model_config_id,
          },
        ]);
        fx.stream(chatId, { type: 'message', chat_id: chatId, message: toChatMessage(message) });
        await this.writeStatus(em, fx, before, 'pending', true);
        return { queued: false, message };
      }
      if (n >= MAX_QUEUED_MESSAGES)
        throw new ChatCommandError(
          'rate_limited',
          ChatErrors.queueFull,
          `A chat holds at most ${MAX_QUEUED_MESSAGES} queued messages.`,
        );
      const [queuedRow] = await queryRows<QueuedMessageRow>(
        em,
        `INSERT INTO chat_queued_messages (chat_id, content, model_config_id)
         VALUES ($1, $2::jsonb, $3) RETURNING ${QUEUED_COLUMNS}`,
        [chatId, JSON.stringify(input.content), modelConfigId ?? null],
      );
      let chat = before;
      // Interrupt stops the turn, but a chat still waiting for a worker stays pending.
      if (behavior === 'interrupt' && chat.status !== 'pending') chat = await this.stopTurn(em, fx, chat);
      // A promotion publishes the queue itself.
      if (!(await this.promoteIfIdle(em, fx, chat))) await this.publishQueue(em, fx, chatId);
      return { queued: true, queuedMessage: toQueuedMessage(queuedRow) };
    });
    this.flush(fx);
    return result;
  }

  /**
   * Edits a user message: the target and every later message are soft-deleted, the new
   * content is inserted (same visibility and model), the queue is cleared and the chat is
   * handed back to pending with its worker cleared, so a running worker can no longer write.
   */
  async editMessage(
    chatId: string,
    messageId: number,
    input: { content: ChatMessagePart[]; editedBy: string },
  ): Promise<ChatMessageRecord> {
    if (input.content.length === 0) throw ChatCommandError.badRequest(ChatErrors.contentRequired);
    const { result, fx } = await this.tx(async (em, fx) => {
      const before = await this.lock(em, chatId);
      const [target] = await em.query(
        `SELECT role, visibility, model_config_id FROM chat_messages
          WHERE id = $2::bigint AND chat_id = $1 AND NOT deleted`,
        [chatId, messageId],
      );
      if (!target) throw new ChatCommandError('not_found', ChatErrors.messageNotFound);
      if (target.role !== 'user') throw ChatCommandError.badRequest(ChatErrors.onlyUserMessages);
      if (before.archived) throw ChatCommandError.badRequest(ChatErrors.chatArchived);
      await softDeleteMessagesFrom(em, chatId, messageId);
      const [message] = await insertChatMessages(em, chatId, [
        {
          role: 'user',
          content: input.content,
          visibility: target.visibility,
          modelConfigId: target.model_config_id,
          createdBy: input.editedBy,
        },
      ]);
      fx.stream(chatId, { type: 'message', chat_id: chatId, message: toChatMessage(message) });
      const cleared = await queryRows(
        em,
        `DELETE FROM chat_queued_messages WHERE chat_id = $1 RETURNING id`,
        [chatId],
      );
      if (cleared.length > 0)
        fx.stream(chatId, { type: 'queue_update', chat_id: chatId, queued_messages: [] });
      this.signalWorker(fx, before, 'edit', 'pending');
      await this.writeStatus(em, fx, before, 'pending', true);
      return message;
    });
    this.flush(fx);
    return result;
  }

  /** Removes one queued message; false when it was not (or no longer) queued. */
  async deleteQueued(chatId: string, queuedId: number): Promise<boolean> {
    const { result, fx } = await this.tx(async (em, fx) => {
      await this.lock(em, chatId);
      const rows = await queryRows(
        em,
        `DELETE FROM chat_queued_messages WHERE id = $2::bigint AND chat_id = $1 RETURNING id`,
        [chatId, queuedId],
      );
      if (rows.length > 0) await this.publishQueue(em, fx, chatId);
      return rows.length > 0;
    });
    this.flush(fx);
    return result;
  }

  /**
   * Sends a queued message now: it becomes a user message, the current turn (if any) is
   * interrupted and the chat becomes pending to answer it.
   */
  async promoteQueued(chatId: string, queuedId: number): Promise<ChatMessageRecord> {
    const { result, fx } = await this.tx(async (em, fx) => {
      const before = await this.lock(em, chatId);
      if (before.archived) throw ChatCommandError.badRequest(ChatErrors.chatArchived);
      const [queued] = await queryRows<QueuedMessageRow>(
        em,
        `DELETE FROM chat_queued_messages WHERE id = $2::bigint AND chat_id = $1 RETURNING ${QUEUED_COLUMNS}`,
        [chatId, queuedId],
      );
      if (!queued) throw new ChatCommandError('not_found', ChatErrors.queuedMessageNotFound);
      if (before.status === 'requires_action') await this.answerPendingToolCalls(em, fx, chatId);
      const [message] = await insertChatMessages(em, chatId, [
        {
          role: 'user',
          content: queued.content,
          createdBy: before.owner_id,
          modelConfigId: queued.model_config_id,
        },
      ]);
      fx.stream(chatId, { type: 'message', chat_id: chatId, message: toChatMessage(message) });
      await this.publishQueue(em, fx, chatId);
      this.signalWorker(fx, before, 'interrupt', 'pending');
      await this.writeStatus(em, fx, before, 'pending', true);
      return message;
    });
    this.flush(fx);
    return result;
  }

  /**
   * Stops the current turn: the chat becomes waiting. A running worker notices through its
   * heartbeat (and the control signal sent here), persists what it has and, in its cleanup,
   * promotes the queue; with no worker the queue is promoted here.
   */
  async interrupt(chatId: string): Promise<Chat> {
    const { result, fx } = await this.tx(async (em, fx) => {
      const before = await this.lock(em, chatId);
      const chat = await this.stopTurn(em, fx, before);
      const after = (await this.promoteIfIdle(em, fx, chat)) ?? chat;
      return toChat(after);
    });
    this.flush(fx);
    return result;
  }

  // ---- transitions' building blocks ------------------------------------------------------

  /** running/requires_action → waiting (pending too, for interrupt); others unchanged. */
  private async stopTurn(
    em: EntityManager,
    fx: AfterCommit,
    chat: LockedChat,
    reason: 'interrupt' | 'archive' = 'interrupt',
  ): Promise<LockedChat> {
    switch (chat.status) {
      case 'running':
        this.signalWorker(fx, chat, reason, 'waiting');
        // The worker keeps its id while it winds down (its partial answer may still land).
        return this.writeStatus(em, fx, chat, 'waiting', false);
      case 'requires_action':
        await this.answerPendingToolCalls(em, fx, chat.id);
        return this.writeStatus(em, fx, chat, 'waiting', true);
      case 'pending':
        return this.writeStatus(em, fx, chat, 'waiting', true);
      default:
        return chat;
    }
  }

  /** On an idle chat (waiting or error, no live worker) the head of the queue is sent now. */
  private async promoteIfIdle(
    em: EntityManager,
    fx: AfterCommit,
    chat: LockedChat,
  ): Promise<LockedChat | undefined> {
    // A manual title change holding the chat (the reserved worker id) is no turn.
    const idle =
      (chat.status === 'waiting' || chat.status === 'error') &&
      (!chat.worker_id || chat.worker_gone || chat.worker_id === TITLE_LOCK_WORKER_ID);
    if (!idle) return undefined;
    const [head] = await queryRows<QueuedMessageRow>(
      em,
      `DELETE FROM chat_queued_messages WHERE id = (
         SELECT id FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id LIMIT 1)
       RETURNING ${QUEUED_COLUMNS}`,
      [chat.id],
    );
    if (!head) return undefined;
    const [message] = await insertChatMessages(em, chat.id, [
      { role: 'user', content: head.content, createdBy: chat.owner_id, modelConfigId: head.model_config_id },
    ]);
    fx.stream(chat.id, { type: 'message', chat_id: chat.id, message: toChatMessage(message) });
    await this.publishQueue(em, fx, chat.id);
    return this.writeStatus(em, fx, chat, 'pending', true);
  }

  /**
   * The one status write of the user-side transitions. Leaving `error` clears last_error;
   * `clearWorker` releases the chat from its worker (always when it becomes pending, so a
   * stale worker's writes are refused). A changed status is announced: `status_change` in the
   * outbox, a `status` stream event, and a wake when the chat became pending.
   */
  private async writeStatus(
    em: EntityManager,
    fx: AfterCommit,
    chat: LockedChat,
    status: ChatStatus,
    clearWorker: boolean,
  ): Promise<LockedChat> {
    const [row] = await queryRows<ChatRow>(
      em,
      `UPDATE chats c SET status = $2::chat_status,
          worker_id = CASE WHEN $3 THEN NULL ELSE c.worker_id END,
          last_error = CASE WHEN $2::chat_status = 'error' THEN c.last_error ELSE NULL END,
          updated_at = now()
        WHERE c.id = $1 RETURNING ${CHAT_COLUMNS}`,
      [chat.id, status, clearWorker],
    );
    if (status !== chat.status) {
      await this.event(em, fx, 'status_change', row);
      fx.stream(chat.id, { type: 'status', chat_id: chat.id, status: { status } });
    }
    if (status === 'pending') fx.wake.add(chat.id);
    return { ...row, worker_gone: clearWorker || chat.worker_gone };
  }

  /** Client-side tool calls still unanswered get an error result, so the history stays valid. */
  private async answerPendingToolCalls(em: EntityManager, fx: AfterCommit, chatId: string): Promise<void> {
    const [last] = await queryRows<{ id: string; content: ChatMessagePart[] | null }>(
      em,
      `SELECT id, content FROM chat_messages
        WHERE chat_id = $1 AND NOT deleted AND role = 'assistant' ORDER BY id DESC LIMIT 1`,
      [chatId],
    );
    if (!last) return;
    const calls = (last.content ?? []).filter((p) => p.type === 'tool-call' && p.tool_call_id);
    if (calls.length === 0) return;
    const answered = new Set<string>();
    const results = await queryRows<{ content: ChatMessagePart[] | null }>(
      em,
      `SELECT content FROM chat_messages
        WHERE chat_id = $1 AND NOT deleted AND role = 'tool' AND id > $2::bigint`,
      [chatId, last.id],
    );
    for (const r of results)
      for (const p of r.content ?? [])
        if (p.type === 'tool-result' && p.tool_call_id) answered.add(p.tool_call_id);
    const missing = calls.filter((c) => !answered.has(c.tool_call_id ?? ''));
    if (missing.length === 0) return;
    const saved = await insertChatMessages(
      em,
      chatId,
      missing.map((c) => ({
        role: 'tool' as const,
        content: [
          {
            type: 'tool-result',
            tool_call_id: c.tool_call_id,
            tool_name: c.tool_name,
            result: { error: TOOL_INTERRUPTED_BY_USER },
            is_error: true,
          },
        ],
      })),
    );
    fx.stream(
      chatId,
      ...saved.map((m) => ({ type: 'message' as const, chat_id: chatId, message: toChatMessage(m) })),
    );
  }

  /**
   * Archive: the chat and, for a root, its whole family; busy members are stopped first
   * (their workers told), pins are cleared, and each chat is announced as `deleted`.
   */
  private async archiveFamily(em: EntityManager, fx: AfterCommit, chat: LockedChat): Promise<void> {
    const family = await this.lockFamily(em, chat.id);
    for (const member of family) {
      if (member.status === 'running' || member.status === 'pending' || member.status === 'requires_action')
        await this.stopTurn(em, fx, member, 'archive');
    }
    const rows = await queryRows<ChatRow>(
      em,
      `UPDATE chats c SET archived = true, pin_order = 0, updated_at = now()
        WHERE (c.id = $1 OR c.root_chat_id = $1) AND NOT c.archived RETURNING ${CHAT_COLUMNS}`,
      [chat.id],
    );
    for (const row of rows) await this.event(em, fx, 'deleted', row);
  }

  /**
   * Unarchive cascades over the family the same way; each chat is announced as `created`.
   * Messages queued before the archive stopped a chat are not stranded: an idle chat with a
   * queue sends its head now.
   */
  private async unarchiveFamily(em: EntityManager, fx: AfterCommit, chatId: string): Promise<void> {
    const family = await this.lockFamily(em, chatId);
    const rows = await queryRows<ChatRow>(
      em,
      `UPDATE chats c SET archived = false, updated_at = now()
        WHERE (c.id = $1 OR c.root_chat_id = $1) AND c.archived RETURNING ${CHAT_COLUMNS}`,
      [chatId],
    );
    const gone = new Map(family.map((c) => [c.id, c.worker_gone]));
    for (const row of rows) {
      await this.event(em, fx, 'created', row);
      await this.promoteIfIdle(em, fx, { ...row, worker_gone: gone.get(row.id) ?? false });
    }
  }

  /**
   * Pins are numbered 1..n per owner among unarchived chats: 0 unpins and closes the gap, a
   * positive order appends an unpinned chat or moves a pinned one (clamped to the range).
   * Pin changes do not touch updated_at (the list's recency order).
   */
  private async setPinOrder(em: EntityManager, chatId: string, wanted: number): Promise<void> {
    const [chat] = await em.query(`SELECT owner_id, pin_order FROM chats WHERE id = $1`, [chatId]);
    const others: { id: string }[] = await em.query(
      `SELECT id FROM chats WHERE owner_id = $1 AND pin_order > 0 AND NOT archived AND id <> $2
        ORDER BY pin_order, id`,
      [chat.owner_id, chatId],
    );
    const order = others.map((o) => o.id);
    if (wanted > 0) {
      const at = chat.pin_order > 0 ? Math.min(wanted, order.length + 1) : order.length + 1;
      order.splice(at - 1, 0, chatId);
    }
    const ids = [...order, ...(wanted > 0 ? [] : [chatId])];
    const pins = [...order.map((_, i) => i + 1), ...(wanted > 0 ? [] : [0])];
    await em.query(
      `UPDATE chats c SET pin_order = v.pin FROM unnest($1::uuid[], $2::int[]) AS v(id, pin)
        WHERE c.id = v.id AND c.pin_order <> v.pin AND (NOT c.archived OR v.pin = 0)`,
      [ids, pins],
    );
  }

  // ---- helpers -----------------------------------------------------------------------------

  /**
   * The given model config (it must exist, be live and enabled) or, when none is given, the
   * default one. The nil uuid is a given (invalid) id here: callers that treat it as absent
   * pass undefined.
   */
  private async resolveModelConfig(em: EntityManager, id: string | undefined): Promise<string> {
    if (id !== undefined) {
      const [row] = isUuid(id)
        ? await em.query(
            `SELECT id FROM chat_model_configs WHERE id = $1::uuid AND NOT deleted AND enabled`,
            [id],
          )
        : [];
      if (!row)
        throw ChatCommandError.badRequest(
          ChatErrors.invalidModelConfig,
          'The model config does not exist or is not enabled.',
        );
      return row.id;
    }
    const [def] = await em.query(
      `SELECT id FROM chat_model_configs WHERE is_default AND NOT deleted LIMIT 1`,
    );
    if (!def) throw ChatCommandError.badRequest(ChatErrors.noDefaultModelConfig);
    return def.id;
  }

  private async lock(em: EntityManager, chatId: string): Promise<LockedChat> {
    const [row] = await queryRows<LockedChat>(
      em,
      `SELECT ${CHAT_COLUMNS}, c.started_at,
          (c.heartbeat_at IS NULL OR c.heartbeat_at < now() - make_interval(secs => $2)) AS worker_gone
        FROM chats c WHERE c.id = $1::uuid FOR UPDATE`,
      [chatId, WIND_DOWN_GRACE_SECONDS],
    );
    if (!row) throw ChatCommandError.chatNotFound();
    return row;
  }

  private async lockFamily(em: EntityManager, chatId: string): Promise<LockedChat[]> {
    return queryRows<LockedChat>(
      em,
      `SELECT ${CHAT_COLUMNS}, c.started_at,
          (c.heartbeat_at IS NULL OR c.heartbeat_at < now() - make_interval(secs => $2)) AS worker_gone
        FROM chats c WHERE c.id = $1::uuid OR c.root_chat_id = $1::uuid ORDER BY c.id FOR UPDATE`,
      [chatId, WIND_DOWN_GRACE_SECONDS],
    );
  }

  /**
   * Serializes pin changes of one owner (they renumber several rows): the owner's user row is
   * the lock, taken before any chat row.
   */
  private async lockPinsOf(em: EntityManager, chatId: string): Promise<void> {
    const [chat] = await em.query(`SELECT owner_id FROM chats WHERE id = $1::uuid`, [chatId]);
    if (!chat) throw ChatCommandError.chatNotFound();
    await em.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [chat.owner_id]);
  }

  private async reload(em: EntityManager, chatId: string): Promise<ChatRow> {
    const [row] = await queryRows<ChatRow>(em, `SELECT ${CHAT_COLUMNS} FROM chats c WHERE c.id = $1`, [
      chatId,
    ]);
    return row;
  }

  private async publishQueue(em: EntityManager, fx: AfterCommit, chatId: string): Promise<void> {
    const rows = await queryRows<QueuedMessageRow>(
      em,
      `SELECT ${QUEUED_COLUMNS} FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id`,
      [chatId],
    );
    fx.stream(chatId, { type: 'queue_update', chat_id: chatId, queued_messages: rows.map(toQueuedMessage) });
  }

  /**
   * The signal names the turn it is about (the locked row's started_at) so a late delivery
   * cannot cancel a newer turn the same worker acquired meanwhile.
   */
  private signalWorker(
    fx: AfterCommit,
    chat: ChatRow & { started_at?: Date | null },
    reason: ChatdControlSignal['reason'],
    status: ChatStatus,
  ): void {
    if (chat.status === 'running' && chat.worker_id)
      fx.controls.push({
        workerId: chat.worker_id,
        signal: {
          v: 1,
          chat_id: chat.id,
          reason,
          status,
          ...(chat.started_at ? { started_at: new Date(chat.started_at).toISOString() } : {}),
        },
      });
  }

  /** A lifecycle event for the watch sockets, in the caller's transaction (full chat object). */
  private async event(em: EntityManager, fx: AfterCommit, kind: ChatWatchKind, row: ChatRow): Promise<void> {
    await enqueueChatEvent(this.outbox, em, kind, row);
    fx.outbox = true;
  }

  private async tx<T>(
    fn: (em: EntityManager, fx: AfterCommit) => Promise<T>,
  ): Promise<{ result: T; fx: AfterCommit }> {
    return inTransaction(this.ds, async (em) => {
      const fx = new AfterCommit();
      return { result: await fn(em, fx), fx };
    });
  }

  /** After commit: relay the outbox, then the signals (each best effort: Postgres has the truth). */
  private flush(fx: AfterCommit): void {
    if (fx.outbox) this.outbox.kick();
    const attempt = (what: string, send: () => void) => {
      try {
        send();
      } catch (e) {
        this.logger.warn({ err: e }, `could not publish ${what}`);
      }
    };
    for (const [chatId, events] of fx.events)
      if (events.length > 0)
        attempt('chat stream events', () => this.bus.publish(Subjects.chatStream, { v: 1, events }, chatId));
    for (const c of fx.controls)
      attempt('chatd control signal', () => this.bus.publish(Subjects.chatdControl, c.signal, c.workerId));
    for (const chatId of fx.wake)
      attempt('chatd wake', () => this.bus.publish(Subjects.chatdWake, { v: 1, chat_id: chatId }));
  }
}
