// Chat titles written by a model.
// - Automatic (worker, after a chat's first turn, outside the turn): only while the chat has,
//   up to that answer, exactly one visible user message and one answer, and its title is
//   still empty or the fallback; best effort.
// - Manual (`POST /chats/{chat}/title/regenerate`): a sample of the conversation (the first
//   user turn and the last three turns, with gap markers) and the latest user message go to
//   the model; the call's usage is stored as a soft-deleted hidden assistant row so it counts
//   toward spend, and the title is written only if it did not change meanwhile. While it
//   runs, an idle chat carries TITLE_LOCK_WORKER_ID as its worker (fresh for one minute), so
//   a second regeneration or a rename gets 409.
// Models are tried in order: a cheap model of each configured provider, then the chat's own.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import type { ChatMessagePart, ChatModelCallConfig, ChatProviderType } from '@agentmesh/contracts';
import { OutboxService } from '@agentmesh/bus';
import { Ciphers } from '@agentmesh/crypto';
import { inTransaction, queryRows } from '@agentmesh/db';
import { CHAT_MESSAGE_CONTENT_VERSION, TITLE_LOCK_WORKER_ID } from '@agentmesh/entities';
import { costMicrosForUsage, createLanguageModel, generateModelText, TokenUsage } from '@agentmesh/llm';
import { LOGGER } from '@agentmesh/observability';
import { ChatCommandError, ChatErrors } from './chat-errors';
import { ellipsizeRunes, fallbackChatTitle, MAX_GENERATED_TITLE_RUNES } from './chat-input';
import { CHAT_COLUMNS, ChatRow } from './chat-mapper';
import { enqueueChatEvent } from './chat-events';
import { loadTurnModel, TurnModel, TurnSetupError } from './chat-models';

/** A cheap model per provider type, tried before the chat's own model. */
export const CHEAP_TITLE_MODELS: Partial<Record<ChatProviderType, string>> = {
  anthropic: 'claude-haiku-4-5',
  openai: 'gpt-4o-mini',
  google: 'gemini-2.5-flash',
  azure: 'gpt-4o-mini',
  bedrock: 'anthropic.claude-haiku-4-5-20251001-v1:0',
  openrouter: 'anthropic/claude-3.5-haiku',
  vercel: 'anthropic/claude-haiku-4.5',
};

const TITLE_TIMEOUT_MS = 30_000;
/** A manual title lock older than this is abandoned (its holder died). */
const TITLE_LOCK_STALE_SECONDS = 60;
/** Messages read from each end of the conversation for a manual title. */
const MANUAL_WINDOW = 50;
const MANUAL_TAIL_TURNS = 3;
const MAX_CONVERSATION_RUNES = 6000;
const MAX_LATEST_MESSAGE_RUNES = 1000;

const AUTO_TITLE_INSTRUCTIONS =
  'Write a short title (at most 8 words) for a conversation that starts with the user message below. ' +
  'Reply with the title only: no quotes, no trailing punctuation, no prefix.';

const MANUAL_TITLE_INSTRUCTIONS = [
  'You name conversations between a user and an AI coding assistant.',
  'Primary objective: a short title (at most 8 words) that says what the conversation as a whole is about.',
  'The sample below shows how the conversation started and where it is now. Weigh the opening request as',
  'heavily as the latest turns: do not name the conversation after its most recent detour unless the whole',
  'conversation has clearly moved on to it.',
  'Reply with the title only: no quotes, no trailing punctuation, no prefix.',
].join(' ');

/** Strips quotes and whitespace noise; ≤ 80 runes; empty when nothing usable remains. */
export function cleanTitle(raw: string): string {
  const unquote = (s: string) => s.replace(/^["'`“‘]+|["'`”’]+$/g, '').trim();
  let t = raw.replace(/\s+/g, ' ').trim();
  // The prefix may sit inside the quotes or outside them.
  t = unquote(unquote(t).replace(/^title:\s*/i, ''))
    .replace(/[.。]+$/, '')
    .trim();
  return ellipsizeRunes(t, MAX_GENERATED_TITLE_RUNES);
}

export interface TitleTurn {
  role: 'user' | 'assistant';
  text: string;
}

/** The text of a message's parts, or '' when it has none. */
function messageText(content: ChatMessagePart[] | null): string {
  return (content ?? [])
    .filter((p) => p.type === 'text' && p.text)
    .map((p) => (p.text as string).trim())
    .filter(Boolean)
    .join('\n');
}

/**
 * User and assistant text as turns, in order: messages without text are skipped and
 * consecutive messages of one role (a multi-step answer) form one turn.
 */
export function extractTitleTurns(
  messages: readonly { role: string; content: ChatMessagePart[] | null }[],
): TitleTurn[] {
  const turns: TitleTurn[] = [];
  for (const m of messages) {
    if (m.role !== 'user' && m.role !== 'assistant') continue;
    const text = messageText(m.content);
    if (!text) continue;
    const last = turns.at(-1);
    if (last && last.role === m.role) last.text += `\n${text}`;
    else turns.push({ role: m.role, text });
  }
  return turns;
}

/** Indexes of the turns a manual title sees: the first user turn and the last three. */
export function selectTitleTurnIndexes(turns: readonly TitleTurn[]): number[] {
  const picked = new Set<number>();
  const firstUser = turns.findIndex((t) => t.role === 'user');
  if (firstUser >= 0) picked.add(firstUser);
  for (let i = Math.max(0, turns.length - MANUAL_TAIL_TURNS); i < turns.length; i++) picked.add(i);
  return [...picked].sort((a, b) => a - b);
}

/**
 * The conversation sample: the selected turns, "[... N earlier turns omitted ...]" wherever
 * turns were skipped, each turn shortened so the whole stays within 6,000 runes.
 */
export function buildTitleConversation(turns: readonly TitleTurn[], indexes: readonly number[]): string {
  const perTurn = Math.max(200, Math.floor(MAX_CONVERSATION_RUNES / Math.max(1, indexes.length)) - 40);
  const lines: string[] = [];
  let previous = -1;
  for (const i of indexes) {
    const skipped = i - previous - 1;
    if (skipped > 0) lines.push(`[... ${skipped} earlier turn${skipped === 1 ? '' : 's'} omitted ...]`);
    lines.push(
      `${turns[i].role === 'user' ? 'User' : 'Assistant'}: ${ellipsizeRunes(turns[i].text, perTurn)}`,
    );
    previous = i;
  }
  return ellipsizeRunes(lines.join('\n\n'), MAX_CONVERSATION_RUNES);
}

/** The user prompt of a manual title: the conversation sample and the latest user message. */
export function renderManualTitlePrompt(turns: readonly TitleTurn[]): string {
  const conversation = buildTitleConversation(turns, selectTitleTurnIndexes(turns));
  const latest = [...turns].reverse().find((t) => t.role === 'user');
  return [
    '## Conversation sample',
    conversation,
    '## Latest user message',
    latest ? ellipsizeRunes(latest.text, MAX_LATEST_MESSAGE_RUNES) : '(none)',
    '## Task',
    'Reply with the title of the whole conversation.',
  ].join('\n\n');
}

/**
 * Rename (PATCH title) refuses while a manual title change holds a fresh lock; called in the
 * rename's transaction with the chat row locked.
 */
export async function assertNoTitleLock(em: EntityManager, chatId: string): Promise<void> {
  const [row] = await em.query(
    `SELECT 1 FROM chats WHERE id = $1 AND worker_id = $2
        AND heartbeat_at > now() - make_interval(secs => $3)`,
    [chatId, TITLE_LOCK_WORKER_ID, TITLE_LOCK_STALE_SECONDS],
  );
  if (row) throw new ChatCommandError('conflict', ChatErrors.titleRegenerationInProgress);
}

interface ProviderRow {
  provider: ChatProviderType;
  api_key: string;
  api_key_key_id: string | null;
  base_url: string;
  central_api_key_enabled: boolean;
}

interface TitleCandidate {
  provider: ChatProviderType;
  model: string;
  apiKey?: string;
  baseUrl?: string;
}

interface TitleAttempt {
  title: string;
  usage: TokenUsage;
  providerResponseId?: string;
  candidate: TitleCandidate;
}

@Injectable()
export class ChatTitles {
  constructor(
    private readonly ds: DataSource,
    private readonly outbox: OutboxService,
    private readonly ciphers: Ciphers,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * The automatic title after a chat's first answer, when the chat qualifies; never throws.
   * Eligibility is judged on the messages up to `answerId` (the answer just saved): the
   * first user message and that one answer. A message the user queued meanwhile, promoted
   * when the turn ended, comes after it and does not count. `signal` cancels the model call
   * (worker shutdown).
   */
  async maybeGenerate(
    chatId: string,
    chatModel: TurnModel,
    opts: { answerId: number | string; signal?: AbortSignal },
  ): Promise<void> {
    try {
      const [chat] = await this.ds.query(`SELECT title FROM chats WHERE id = $1`, [chatId]);
      const rows: { role: string; content: ChatMessagePart[] | null }[] = await this.ds.query(
        `SELECT role, content FROM chat_messages
          WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') AND role IN ('user', 'assistant', 'tool')
            AND id <= $2::bigint
          ORDER BY id LIMIT 3`,
        [chatId, String(opts.answerId)],
      );
      const users = rows.filter((r) => r.role === 'user');
      if (!chat || users.length !== 1 || rows.length !== 2) return;
      const text = messageText(users[0].content).replace(/\s+/g, ' ');
      if (!text || (chat.title !== '' && chat.title !== fallbackChatTitle(text))) return;
      if (opts.signal?.aborted) return;
      const attempt = await this.generate(
        AUTO_TITLE_INSTRUCTIONS,
        text.slice(0, 4000),
        await this.candidates(chatModel),
        undefined,
        opts.signal,
      );
      if (attempt && !opts.signal?.aborted && (await this.writeTitle(chatId, chat.title, attempt.title))) {
        this.logger.info({ chat_id: chatId }, 'generated chat title');
      }
    } catch (e) {
      this.logger.warn({ err: e, chat_id: chatId }, 'title generation failed');
    }
  }

  /**
   * `POST title/regenerate`: generates a title from the conversation, records the call's
   * usage and writes the title if it did not change meanwhile. 409 while the chat waits for a worker or another manual title change holds
   * the lock; a failure of every model is a 502 naming the last error.
   */
  async regenerate(chatId: string): Promise<void> {
    const lock = await this.acquireLock(chatId);
    try {
      const messages: { id: string; role: string; content: ChatMessagePart[] | null }[] = await this.ds.query(
        `(SELECT id, role, content FROM chat_messages
           WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') ORDER BY id LIMIT $2)
         UNION
         (SELECT id, role, content FROM chat_messages
           WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') ORDER BY id DESC LIMIT $2)
         ORDER BY id`,
        [chatId, MANUAL_WINDOW],
      );
      const turns = extractTitleTurns(messages);
      if (turns.length === 0) return;
      const before = await this.readChat(chatId);
      let chatModel: TurnModel | undefined;
      try {
        chatModel = await loadTurnModel(this.ds, this.ciphers, before.last_model_config_id);
      } catch (e) {
        if (!(e instanceof TurnSetupError)) throw e;
      }
      // Outside the try below: a database or key failure here is ours (a 500), not the
      // models' (a 502 whose detail must only ever be a classified model error).
      const candidates = await this.candidates(chatModel);
      let attempt: TitleAttempt | undefined;
      let failure: string | undefined;
      try {
        // One deadline for the whole regeneration (every candidate model), well inside the
        // lock's lifetime.
        attempt = await this.generate(
          MANUAL_TITLE_INSTRUCTIONS,
          renderManualTitlePrompt(turns),
          candidates,
          AbortSignal.timeout(TITLE_TIMEOUT_MS),
        );
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
      if (!attempt)
        throw new ChatCommandError(
          'upstream',
          ChatErrors.titleRegenerationFailed,
          failure ?? 'No model of the configured providers can generate titles.',
        );
      await this.recordManualTitle(chatId, before.title, attempt);
    } finally {
      if (lock) await this.releaseLock(chatId, lock);
    }
  }

  /**
   * Takes the manual title lock. A chat waiting for a worker, or holding a fresh lock, is a
   * 409. A chat a worker is on (running, or winding down after an interrupt) is not locked:
   * the title may change concurrently with the turn and the last write wins. Returns whether
   * the lock was taken. updated_at is untouched so the chat list keeps its order.
   */
  private async acquireLock(chatId: string): Promise<Date | undefined> {
    return inTransaction(this.ds, async (em) => {
      const [chat] = await em.query(
        `SELECT status, worker_id,
            (worker_id = $2 AND heartbeat_at > now() - make_interval(secs => $3)) AS fresh_lock
           FROM chats WHERE id = $1 FOR UPDATE`,
        [chatId, TITLE_LOCK_WORKER_ID, TITLE_LOCK_STALE_SECONDS],
      );
      if (!chat) throw ChatCommandError.chatNotFound();
      const realWorker = chat.worker_id !== null && chat.worker_id !== TITLE_LOCK_WORKER_ID;
      if (chat.status === 'pending' || (chat.status === 'running' && !realWorker) || chat.fresh_lock)
        throw new ChatCommandError('conflict', ChatErrors.titleRegenerationInProgress);
      if (realWorker) return undefined;
      const [row] = await queryRows<{ heartbeat_at: Date }>(
        em,
        `UPDATE chats SET worker_id = $2, heartbeat_at = date_trunc('milliseconds', clock_timestamp())
          WHERE id = $1 RETURNING heartbeat_at`,
        [chatId, TITLE_LOCK_WORKER_ID],
      );
      return row.heartbeat_at;
    });
  }

  /**
   * Releases the lock if it is still this call's: the reserved id with the heartbeat it wrote
   * (a send in between cleared it; a later call that found it stale wrote its own).
   */
  private async releaseLock(chatId: string, lockedAt: Date): Promise<void> {
    try {
      await this.ds.query(
        `UPDATE chats SET worker_id = NULL, heartbeat_at = NULL
          WHERE id = $1 AND worker_id = $2 AND heartbeat_at = $3`,
        [chatId, TITLE_LOCK_WORKER_ID, lockedAt],
      );
    } catch (e) {
      // It goes stale after a minute anyway.
      this.logger.warn({ err: e, chat_id: chatId }, 'could not release the manual title lock');
    }
  }

  private async readChat(chatId: string): Promise<ChatRow> {
    const [row] = await this.ds.query(`SELECT ${CHAT_COLUMNS} FROM chats c WHERE c.id = $1`, [chatId]);
    if (!row) throw ChatCommandError.chatNotFound();
    return row as ChatRow;
  }

  /**
   * One transaction: the usage row (soft-deleted, hidden, priced with the model config of the
   * model that answered when one is configured) and the title with its title_change event,
   * written only if the title is still `expected`.
   */
  private async recordManualTitle(chatId: string, expected: string, attempt: TitleAttempt): Promise<void> {
    const written = await inTransaction(this.ds, async (em) => {
      const [config] = await em.query(
        `SELECT id, options FROM chat_model_configs
          WHERE provider = $1 AND model = $2 AND NOT deleted ORDER BY is_default DESC, updated_at DESC LIMIT 1`,
        [attempt.candidate.provider, attempt.candidate.model],
      );
      const u = attempt.usage;
      const nullIfZero = (n: number) => (n > 0 ? n : null);
      await em.query(
        `INSERT INTO chat_messages (chat_id, role, visibility, deleted, content, model_config_id,
            input_tokens, output_tokens, total_tokens, reasoning_tokens, cache_creation_tokens, cache_read_tokens,
            total_cost_micros, provider_response_id, content_version)
         VALUES ($1, 'assistant', 'model', true, $2::jsonb, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          chatId,
          JSON.stringify([{ type: 'text', text: attempt.title }]),
          config?.id ?? null,
          nullIfZero(u.inputTokens),
          nullIfZero(u.outputTokens),
          nullIfZero(u.totalTokens),
          nullIfZero(u.reasoningTokens),
          nullIfZero(u.cacheWriteTokens),
          nullIfZero(u.cacheReadTokens),
          config ? (costMicrosForUsage(u, config.options as ChatModelCallConfig) ?? null) : null,
          attempt.providerResponseId || null,
          CHAT_MESSAGE_CONTENT_VERSION,
        ],
      );
      if (attempt.title === expected) return undefined;
      return this.updateTitle(em, chatId, expected, attempt.title);
    });
    if (written) this.outbox.kick();
  }

  /** Automatic titles: the title alone, if unchanged meanwhile. */
  private async writeTitle(chatId: string, expected: string, title: string): Promise<boolean> {
    const written = await inTransaction(this.ds, (em) => this.updateTitle(em, chatId, expected, title));
    if (written) this.outbox.kick();
    return written !== undefined;
  }

  /** Sets the title if it is still `expected` (updated_at untouched) with its title_change. */
  private async updateTitle(
    em: EntityManager,
    chatId: string,
    expected: string,
    title: string,
  ): Promise<ChatRow | undefined> {
    const [row] = await queryRows<ChatRow>(
      em,
      `UPDATE chats c SET title = $3 WHERE c.id = $1 AND c.title = $2 RETURNING ${CHAT_COLUMNS}`,
      [chatId, expected, title],
    );
    if (!row) return undefined;
    await enqueueChatEvent(this.outbox, em, 'title_change', row);
    return row;
  }

  /**
   * Asks each candidate in turn for a title, within `deadline` when given. Undefined when
   * none produced one; with a deadline (manual titles), the last model error is thrown.
   * `cancel` (automatic titles) stops the attempts without an error.
   */
  private async generate(
    system: string,
    prompt: string,
    candidates: readonly TitleCandidate[],
    deadline?: AbortSignal,
    cancel?: AbortSignal,
  ): Promise<TitleAttempt | undefined> {
    let lastError: unknown;
    const abortSignal = deadline ?? cancel;
    for (const candidate of candidates) {
      if (abortSignal?.aborted) break;
      try {
        const { text, usage, providerResponseId } = await generateModelText({
          model: createLanguageModel(
            { provider: candidate.provider, apiKey: candidate.apiKey, baseUrl: candidate.baseUrl },
            candidate.model,
          ),
          provider: candidate.provider,
          system,
          messages: [{ role: 'user', content: prompt }],
          settings: { maxOutputTokens: 60 },
          timeoutMs: TITLE_TIMEOUT_MS,
          ...(abortSignal ? { abortSignal } : {}),
        });
        const title = cleanTitle(text);
        if (title) return { title, usage, providerResponseId, candidate };
        lastError = new Error(`${candidate.provider}/${candidate.model} answered with an empty title`);
      } catch (e) {
        lastError = e;
        this.logger.debug(
          { err: e, provider: candidate.provider, model: candidate.model },
          'title model failed; trying the next',
        );
      }
    }
    // Model errors carry the classified, user-facing message (never the key).
    if (deadline && lastError)
      throw new Error(lastError instanceof Error ? lastError.message : String(lastError));
    return undefined;
  }

  private async candidates(chatModel: TurnModel | undefined): Promise<TitleCandidate[]> {
    const providers: ProviderRow[] = await this.ds.query(
      `SELECT provider, api_key, api_key_key_id, base_url, central_api_key_enabled FROM chat_providers
        WHERE enabled ORDER BY provider`,
    );
    const cheap = providers
      .filter((p) => CHEAP_TITLE_MODELS[p.provider] && p.central_api_key_enabled && p.api_key)
      .map((p) => ({
        provider: p.provider,
        model: CHEAP_TITLE_MODELS[p.provider] as string,
        apiKey: this.ciphers.decrypt(p.api_key, p.api_key_key_id),
        baseUrl: p.base_url || undefined,
      }));
    if (!chatModel) return cheap;
    return [
      ...cheap,
      {
        provider: chatModel.provider,
        model: chatModel.model,
        apiKey: chatModel.apiKey,
        baseUrl: chatModel.baseUrl,
      },
    ];
  }
}
