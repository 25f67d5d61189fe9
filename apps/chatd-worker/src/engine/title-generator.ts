// Automatic chat titles. After a chat's first turn (exactly one visible user message, one
// answer, and a title that is still the fallback), ask a cheap model of the configured
// providers for a short title, falling back to the chat's own model; write it only if the
// title did not change meanwhile. Best effort: failures are logged, never surfaced.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import type { ChatMessagePart, ChatProviderType } from '@agentmesh/contracts';
import { fallbackChatTitle, TurnPersistence } from '@agentmesh/chats';
import { Ciphers } from '@agentmesh/crypto';
import { createLanguageModel, generateModelText } from '@agentmesh/llm';
import { LOGGER } from '@agentmesh/observability';
import type { TurnModel } from './turn-inputs';

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
const MAX_TITLE_RUNES = 80;
const TITLE_INSTRUCTIONS =
  'Write a short title (at most 8 words) for a conversation that starts with the user message below. ' +
  'Reply with the title only: no quotes, no trailing punctuation, no prefix.';

interface ProviderRow {
  provider: ChatProviderType;
  api_key: string;
  api_key_key_id: string | null;
  base_url: string;
  central_api_key_enabled: boolean;
}

/** Strips quotes and whitespace noise; ≤ 80 runes; empty when nothing usable remains. */
export function cleanTitle(raw: string): string {
  let t = raw.replace(/\s+/g, ' ').trim();
  t = t
    .replace(/^(title:\s*)/i, '')
    .replace(/^["'`“‘]+|["'`”’]+$/g, '')
    .replace(/[.。]+$/, '')
    .trim();
  const runes = [...t];
  return runes.length > MAX_TITLE_RUNES ? `${runes.slice(0, MAX_TITLE_RUNES - 1).join('')}…` : t;
}

@Injectable()
export class TitleGenerator {
  constructor(
    private readonly ds: DataSource,
    private readonly persistence: TurnPersistence,
    private readonly ciphers: Ciphers,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Generates and stores a title when the chat qualifies; never throws. */
  async maybeGenerate(chatId: string, chatModel: TurnModel): Promise<void> {
    try {
      const [chat] = await this.ds.query(`SELECT title FROM chats WHERE id = $1`, [chatId]);
      const rows: { role: string; content: ChatMessagePart[] | null }[] = await this.ds.query(
        `SELECT role, content FROM chat_messages
          WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') AND role IN ('user', 'assistant', 'tool')
          ORDER BY id LIMIT 3`,
        [chatId],
      );
      const users = rows.filter((r) => r.role === 'user');
      if (!chat || users.length !== 1 || rows.length !== 2) return;
      const text = (users[0].content ?? [])
        .filter((p) => p.type === 'text' && p.text)
        .map((p) => p.text)
        .join(' ')
        .trim();
      if (!text || chat.title !== fallbackChatTitle(text)) return;
      const title = await this.generate(text, chatModel);
      if (title && (await this.persistence.setGeneratedTitle(chatId, chat.title, title))) {
        this.logger.info({ chat_id: chatId }, 'generated chat title');
      }
    } catch (e) {
      this.logger.warn({ err: e, chat_id: chatId }, 'title generation failed');
    }
  }

  private async generate(userText: string, chatModel: TurnModel): Promise<string | undefined> {
    const providers: ProviderRow[] = await this.ds.query(
      `SELECT provider, api_key, api_key_key_id, base_url, central_api_key_enabled FROM chat_providers
        WHERE enabled ORDER BY provider`,
    );
    const candidates = [
      ...providers
        .filter((p) => CHEAP_TITLE_MODELS[p.provider] && p.central_api_key_enabled && p.api_key)
        .map((p) => ({
          provider: p.provider,
          model: CHEAP_TITLE_MODELS[p.provider] as string,
          apiKey: this.ciphers.decrypt(p.api_key, p.api_key_key_id),
          baseUrl: p.base_url || undefined,
        })),
      {
        provider: chatModel.provider,
        model: chatModel.model,
        apiKey: chatModel.apiKey,
        baseUrl: chatModel.baseUrl,
      },
    ];
    for (const c of candidates) {
      try {
        const { text } = await generateModelText({
          model: createLanguageModel({ provider: c.provider, apiKey: c.apiKey, baseUrl: c.baseUrl }, c.model),
          provider: c.provider,
          system: TITLE_INSTRUCTIONS,
          messages: [{ role: 'user', content: userText.slice(0, 4000) }],
          settings: { maxOutputTokens: 60 },
          timeoutMs: TITLE_TIMEOUT_MS,
        });
        const title = cleanTitle(text);
        if (title) return title;
      } catch (e) {
        this.logger.debug(
          { err: e, provider: c.provider, model: c.model },
          'title model failed; trying the next',
        );
      }
    }
    return undefined;
  }
}
