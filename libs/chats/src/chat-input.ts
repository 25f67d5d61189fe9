// Validation and normalisation of what users send into a chat: message parts, labels,
// prompts, titles and the small enums. Pure functions, shared by every entry point (HTTP
// today, tools that message other chats later), each failure a ChatCommandError carrying
// the reference's message.
import type { ChatClientType, ChatMessagePart, ValidationError } from '@agentmesh/contracts';
import { CHAT_CLIENT_TYPES } from '@agentmesh/contracts';
import { isUuid } from '@agentmesh/entities';
import { ChatCommandError, ChatErrors } from './chat-errors';

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export const MAX_CHAT_SYSTEM_PROMPT_CHARS = 10_000;
export const MAX_TITLE_RUNES = 200;
export const MAX_GENERATED_TITLE_RUNES = 80;
export const FALLBACK_TITLE_WORDS = 6;
export const DEFAULT_CHAT_TITLE = 'New Chat';
export const MAX_LABELS = 50;
export const MAX_LABEL_KEY_BYTES = 64;
export const MAX_LABEL_VALUE_BYTES = 256;
export const LABEL_KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9._/-]*$/;
export const MAX_DYNAMIC_TOOLS = 250;

/** A uuid the client actually set: the nil uuid (Go's zero value) counts as absent. */
export function presentUuid(v: string | null | undefined): string | undefined {
  return v && v !== NIL_UUID ? v : undefined;
}

export function runeLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function truncateRunes(s: string, max: number): string {
  const runes = [...s];
  return runes.length <= max ? s : runes.slice(0, max).join('');
}

/** At most `max` runes: cut to `max - 1` plus "…" when longer. */
export function ellipsizeRunes(s: string, max: number): string {
  return runeLength(s) > max ? `${truncateRunes(s, max - 1)}…` : s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalidPart(detail: string): ChatCommandError {
  return ChatCommandError.badRequest(ChatErrors.invalidInputPart, detail);
}

/**
 * ChatInputPart[] → the stored message parts. Types are trimmed and case-insensitive; text
 * must not be blank; file parts need an uploaded file, and file storage does not exist yet,
 * so every file part is refused like an unknown file id.
 */
export function parseChatInputParts(raw: unknown, field = 'content'): ChatMessagePart[] {
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0))
    throw ChatCommandError.badRequest(ChatErrors.contentRequired);
  if (!Array.isArray(raw)) throw invalidPart(`${field} must be an array of input parts.`);
  return raw.map((p, i) => parsePart(p, `${field}[${i}]`));
}

function optional<T>(
  p: Record<string, unknown>,
  key: string,
  at: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw invalidPart(`${at}.${key} must be ${what}.`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isLine = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parsePart(p: unknown, at: string): ChatMessagePart {
  if (!isPlainObject(p)) throw invalidPart(`${at} must be an object.`);
  const rawType = optional(p, 'type', at, isString, 'a string');
  const type = (rawType ?? '').trim().toLowerCase();
  const text = optional(p, 'text', at, isString, 'a string');
  const fileId = optional(p, 'file_id', at, isString, 'a string');
  const fileName = optional(p, 'file_name', at, isString, 'a string');
  const startLine = optional(p, 'start_line', at, isLine, 'a non-negative integer');
  const endLine = optional(p, 'end_line', at, isLine, 'a non-negative integer');
  const content = optional(p, 'content', at, isString, 'a string');
  switch (type) {
    case 'text':
      if (!text || text.trim() === '') throw invalidPart(`${at}.text cannot be empty.`);
      return { type: 'text', text };
    case 'file': {
      const id = presentUuid(fileId);
      if (!id) throw invalidPart(`${at}.file_id is required.`);
      if (!isUuid(id)) throw invalidPart(`${at}.file_id must be a valid UUID.`);
      throw invalidPart(`${at}.file_id: file ${id} not found.`);
    }
    case 'file-reference': {
      const name = (fileName ?? '').trim();
      if (!name) throw invalidPart(`${at}.file_name cannot be empty.`);
      return {
        type: 'file-reference',
        file_name: name,
        start_line: startLine ?? 0,
        end_line: endLine ?? 0,
        content: content ?? '',
      };
    }
    case '':
      throw invalidPart(`${at}.type is required.`);
    default:
      throw invalidPart(`${at}.type ${JSON.stringify(truncateRunes(rawType ?? '', 64))} is not supported.`);
  }
}

/** The text a user typed (text parts joined), for titles. */
export function partsText(parts: readonly ChatMessagePart[]): string {
  return parts
    .filter((p) => p.type === 'text' && p.text)
    .map((p) => p.text)
    .join(' ');
}

/** The title before (or without) generation: the first six words, "…" when cut, ≤ 80 runes. */
export function fallbackChatTitle(text: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length === 0) return DEFAULT_CHAT_TITLE;
  let title = words.slice(0, FALLBACK_TITLE_WORDS).join(' ');
  if (words.length > FALLBACK_TITLE_WORDS) title += '…';
  return ellipsizeRunes(title, MAX_GENERATED_TITLE_RUNES);
}

/** PATCH title: trimmed, 1..200 runes. */
export function normalizeTitle(raw: string): string {
  const title = raw.trim();
  if (title === '') throw ChatCommandError.badRequest(ChatErrors.titleEmpty);
  if (runeLength(title) > MAX_TITLE_RUNES) throw ChatCommandError.badRequest(ChatErrors.titleTooLong);
  return title;
}

// C0/C1 controls except tab and newlines, and characters that render as nothing: zero-width
// spaces and joiners, bidi overrides and isolates, word joiners, BOM, soft hyphen.
const INVISIBLE_RE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]/g;

/** Prompts lose control and invisible characters (prompt-smuggling vectors) and outer blanks. */
export function sanitizePrompt(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(INVISIBLE_RE, '').trim();
}

/** The per-chat system prompt, sanitized; '' when there is none. */
export function chatSystemPrompt(raw: string | undefined): string {
  const prompt = sanitizePrompt(raw ?? '');
  if (prompt.length > MAX_CHAT_SYSTEM_PROMPT_CHARS)
    throw ChatCommandError.badRequest(
      ChatErrors.systemPromptTooLong,
      `The system prompt must be at most ${MAX_CHAT_SYSTEM_PROMPT_CHARS} characters.`,
    );
  return prompt;
}

/** Problems of a label map (empty when valid). */
export function labelProblems(labels: unknown): ValidationError[] {
  if (!isPlainObject(labels)) return [{ field: 'labels', detail: 'must be an object of strings' }];
  const entries = Object.entries(labels);
  const out: ValidationError[] = [];
  if (entries.length > MAX_LABELS)
    out.push({ field: 'labels', detail: `at most ${MAX_LABELS} labels are allowed (got ${entries.length})` });
  for (const [key, value] of entries.slice(0, MAX_LABELS + 1)) {
    const shown = JSON.stringify(truncateRunes(key, 64));
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes < 1 || keyBytes > MAX_LABEL_KEY_BYTES)
      out.push({ field: 'labels', detail: `label key ${shown} must be 1-${MAX_LABEL_KEY_BYTES} characters` });
    else if (!LABEL_KEY_RE.test(key))
      out.push({
        field: 'labels',
        detail: `label key ${shown} must start with a letter or digit and contain only letters, digits, '.', '_', '/' or '-'`,
      });
    if (typeof value !== 'string') {
      out.push({ field: 'labels', detail: `label ${shown} must have a string value` });
      continue;
    }
    const valueBytes = Buffer.byteLength(value);
    if (valueBytes < 1 || valueBytes > MAX_LABEL_VALUE_BYTES)
      out.push({
        field: 'labels',
        detail: `label ${shown} value must be 1-${MAX_LABEL_VALUE_BYTES} characters`,
      });
  }
  return out;
}

export function validateLabels(labels: unknown): Record<string, string> {
  const problems = labelProblems(labels);
  if (problems.length > 0) throw ChatCommandError.badRequest(ChatErrors.invalidLabels, undefined, problems);
  return labels as Record<string, string>;
}

/** `plan_mode`: "plan" sets it, "" clears it (null); anything else is refused. */
export function parsePlanMode(raw: unknown): 'plan' | null {
  if (raw === 'plan') return 'plan';
  if (raw === '') return null;
  throw ChatCommandError.badRequest(ChatErrors.invalidPlanMode);
}

export function parseClientType(raw: unknown): ChatClientType {
  if (raw === undefined || raw === null || raw === '') return 'api';
  if (typeof raw === 'string' && (CHAT_CLIENT_TYPES as readonly string[]).includes(raw))
    return raw as ChatClientType;
  throw ChatCommandError.badRequest(ChatErrors.invalidClientType);
}

export interface DynamicToolDefinition {
  name: string;
  description?: string;
  input_schema: unknown;
}

/** `unsafe_dynamic_tools`: at most 250, names non-empty and unique, a schema object each. */
export function parseDynamicTools(raw: unknown): DynamicToolDefinition[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw))
    throw ChatCommandError.badRequest(
      ChatErrors.invalidDynamicTools,
      'unsafe_dynamic_tools must be an array.',
    );
  if (raw.length > MAX_DYNAMIC_TOOLS)
    throw ChatCommandError.badRequest(
      ChatErrors.tooManyDynamicTools,
      `At most ${MAX_DYNAMIC_TOOLS} dynamic tools are allowed.`,
    );
  const seen = new Set<string>();
  return raw.map((t, i) => {
    const at = `unsafe_dynamic_tools[${i}]`;
    if (!isPlainObject(t))
      throw ChatCommandError.badRequest(ChatErrors.invalidDynamicTools, `${at} must be an object.`);
    const name = typeof t.name === 'string' ? t.name.trim() : '';
    if (!name) throw ChatCommandError.badRequest(ChatErrors.invalidDynamicTools, `${at}.name is required.`);
    if (seen.has(name))
      throw ChatCommandError.badRequest(
        ChatErrors.invalidDynamicTools,
        `${at}.name ${JSON.stringify(truncateRunes(name, 64))} is duplicated.`,
      );
    seen.add(name);
    if (t.description !== undefined && typeof t.description !== 'string')
      throw ChatCommandError.badRequest(
        ChatErrors.invalidDynamicTools,
        `${at}.description must be a string.`,
      );
    if (!isPlainObject(t.input_schema))
      throw ChatCommandError.badRequest(
        ChatErrors.invalidDynamicTools,
        `${at}.input_schema must be a JSON schema object.`,
      );
    return {
      name,
      ...(t.description ? { description: t.description as string } : {}),
      input_schema: t.input_schema,
    };
  });
}
