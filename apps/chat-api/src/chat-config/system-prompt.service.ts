// The deployment system prompt (wire contract §4, chatd §1.8, §4.1): an admin's custom prompt
// and whether the built-in default goes before it, stored together in site_configs. New
// chats start with deploymentSystemPrompt() as their first (model-only) system message; the
// composed prompt is cached per replica until a system_prompt config.changed (from any
// replica) or, should that signal be lost, until the cache lifetime ends.
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { inTransaction } from '@agentmesh/db';
import { LOGGER } from '@agentmesh/observability';
import { ApiError } from '../http/api-error';
import { Db, readSystemPrompt, writeSystemPrompt } from './chat-config.queries';
import { ConfigEvents } from './config-events.service';
import { CONFIG_KINDS, DEFAULT_SYSTEM_PROMPT, MAX_SYSTEM_PROMPT_BYTES, Messages } from './constants';

/** How long a replica may serve a cached deployment prompt without hearing of a change. */
export const DEPLOYMENT_PROMPT_CACHE_MS = 30_000;

export interface SystemPromptConfig {
  system_prompt: string;
  include_default_system_prompt: boolean;
  default_system_prompt: string;
}

/**
 * Removes what a prompt must not carry: control characters other than tab and newline
 * (CRLF/CR become LF) and invisible format characters (zero-width, bidi overrides, BOM) that
 * could hide instructions from the admin reading it. Surrounding whitespace is trimmed.
 */
export function sanitizePrompt(text: string): string {
  return (
    text
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex -- removing control characters is the point
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, '')
      .replace(/[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]/g, '')
      .trim()
  );
}

/** `[default?, custom?]` joined by a blank line (empty parts left out). */
export function composeDeploymentPrompt(includeDefault: boolean, custom: string): string {
  return [includeDefault ? DEFAULT_SYSTEM_PROMPT : '', custom.trim()].filter(Boolean).join('\n\n');
}

@Injectable()
export class SystemPromptService {
  private cached?: { prompt: string; expiresAt: number };
  /** Bumped on every invalidation, so a read that raced a change is not cached. */
  private generation = 0;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly events: ConfigEvents,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    events.onChanged((e) => {
      if (e.kind === CONFIG_KINDS.systemPrompt) this.invalidate();
    });
  }

  /** Drops the cached deployment prompt. */
  invalidate(): void {
    this.cached = undefined;
    this.generation++;
  }

  async get(db: Db = this.ds): Promise<SystemPromptConfig> {
    const row = await readSystemPrompt(db);
    return {
      system_prompt: row.system_prompt,
      include_default_system_prompt: row.include_default_system_prompt,
      default_system_prompt: DEFAULT_SYSTEM_PROMPT,
    };
  }

  /** Stores the sanitized prompt and (only when given) the include flag, atomically. */
  async update(systemPrompt: string, includeDefault?: boolean | null): Promise<void> {
    const prompt = sanitizePrompt(systemPrompt);
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > MAX_SYSTEM_PROMPT_BYTES)
      throw new ApiError(
        'bad_request',
        Messages.systemPromptTooLong,
        `System prompt must be at most ${MAX_SYSTEM_PROMPT_BYTES} bytes, got ${bytes}.`,
        [{ field: 'system_prompt', detail: `must be at most ${MAX_SYSTEM_PROMPT_BYTES} bytes` }],
      );
    await inTransaction(this.ds, (em) => writeSystemPrompt(em, prompt, includeDefault ?? undefined));
    this.events.changed('system_prompt');
  }

  /**
   * The deployment prompt a new chat starts with: the built-in default (unless turned off)
   * and the custom prompt, joined by a blank line. When the settings cannot be read, the
   * built-in default, so a database hiccup never yields a chat without instructions. Reads
   * on the pool: call it before opening the chat's transaction (a failed read would abort it).
   */
  async deploymentSystemPrompt(): Promise<string> {
    const now = Date.now();
    if (this.cached && this.cached.expiresAt > now) return this.cached.prompt;
    const generation = this.generation;
    try {
      const row = await readSystemPrompt(this.ds);
      const prompt = composeDeploymentPrompt(row.include_default_system_prompt, row.system_prompt);
      if (generation === this.generation)
        this.cached = { prompt, expiresAt: now + DEPLOYMENT_PROMPT_CACHE_MS };
      return prompt;
    } catch (err) {
      this.logger.warn({ err }, 'could not read the deployment system prompt; using the built-in default');
      return DEFAULT_SYSTEM_PROMPT;
    }
  }
}
