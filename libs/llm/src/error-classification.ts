// Classifies a failed model call (reference chatd §3.9) into a kind, a retry decision, a
// user-facing message that names the provider, and the provider's own detail. Pure: the
// worker calls it after a failure and retries with backoff when `retryable`. Rules are
// checked in the reference's order (first match wins): overloaded → usage_limit → auth
// (401) → auth (403 unless config-like) → rate_limit (unless config) → provider_disabled →
// timeout (unless config) → config → generic (retryable when 5xx).
import { APICallError, RetryError } from 'ai';
import {
  FirstChunkTimeoutError,
  LlmAbortedError,
  LlmCallError,
  ProviderConfigError,
  ProviderDisabledError,
  UnsupportedProviderError,
} from './errors';

export const LLM_ERROR_KINDS = [
  'overloaded',
  'rate_limit',
  'timeout',
  'startup_timeout',
  'auth',
  'config',
  'usage_limit',
  'generic',
  'provider_disabled',
] as const;
export type LlmErrorKind = (typeof LLM_ERROR_KINDS)[number];

/** HTTP statuses worth retrying (reference §3.9); 529 is Anthropic's "overloaded". */
export const RETRYABLE_STATUS_CODES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504, 529]);

/** The detail shown to users is cut to this many characters (code points). */
export const ERROR_DETAIL_MAX_RUNES = 500;

export interface ClassifiedLlmError {
  kind: LlmErrorKind;
  retryable: boolean;
  /** User-facing, names the provider. */
  message: string;
  /** The provider's own message, at most 500 code points. */
  detail?: string;
  provider: string;
  statusCode?: number;
  /** From `retry-after-ms` / `retry-after` (seconds or an HTTP date). */
  retryAfterMs?: number;
}

export interface ClassifyContext {
  /** The provider type of the call (`openai`, `anthropic`, …). */
  provider: string;
  /** Clock for HTTP-date `retry-after` values (tests pin it). */
  now?: number;
}

const PROVIDER_NAMES: Record<string, string> = {
  anthropic: 'Anthropic',
  azure: 'Azure OpenAI',
  bedrock: 'AWS Bedrock',
  google: 'Google',
  openai: 'OpenAI',
  'openai-compat': 'The OpenAI-compatible provider',
  openrouter: 'OpenRouter',
  vercel: 'Vercel AI Gateway',
};

const OVERLOADED = ['overloaded'];
const USAGE_LIMIT = ['insufficient_quota', 'quota', 'billing', 'credit balance', 'payment required'];
const AUTH = [
  'invalid api key',
  'invalid_api_key',
  'incorrect api key',
  'invalid x-api-key',
  'authentication',
  'unauthorized',
];
const FORBIDDEN = ['permission_error', 'forbidden', 'permission denied'];
const RATE_LIMIT = ['rate limit', 'rate_limit', 'ratelimit', 'too many requests'];
const DISABLED = ['provider is disabled'];
const TIMEOUT = [
  'timeout',
  'timed out',
  'etimedout',
  'econnreset',
  'econnrefused',
  'connection reset',
  'connection refused',
  'socket hang up',
  'other side closed',
  'terminated',
  'fetch failed',
  'network error',
  'service unavailable',
  'bad gateway',
  'eof',
];
const CONFIG = [
  'invalid model',
  'model not found',
  'model_not_found',
  'does not exist',
  'unsupported model',
  'not supported',
  'context length',
  'context_length_exceeded',
  'maximum context length',
  'prompt is too long',
  'context window',
  'invalid model config',
];
const GENERIC_RETRYABLE = ['server error', 'internal error', 'api_error'];

interface Signals {
  status?: number;
  text: string;
  detail?: string;
  headers: Record<string, string>;
}

/** Classify any error thrown or streamed by a model call. */
export function classifyLlmError(error: unknown, context: ClassifyContext): ClassifiedLlmError {
  if (error instanceof LlmCallError) return error.classification;
  if (RetryError.isInstance(error) && error.lastError !== undefined)
    return classifyLlmError(error.lastError, context);

  const provider = context.provider;
  const name = PROVIDER_NAMES[provider] ?? `Provider "${provider}"`;
  const make = (kind: LlmErrorKind, retryable: boolean, message: string, s: Signals): ClassifiedLlmError => {
    const retryAfterMs = parseRetryAfter(s.headers, context.now ?? Date.now());
    return {
      kind,
      retryable,
      message,
      provider,
      ...(s.detail ? { detail: truncateRunes(s.detail, ERROR_DETAIL_MAX_RUNES) } : {}),
      ...(s.status !== undefined ? { statusCode: s.status } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  };

  const s = signalsOf(error);
  // Our own typed errors say exactly what happened; no pattern matching needed.
  if (error instanceof FirstChunkTimeoutError) {
    return make('startup_timeout', true, `${name} did not start responding in time.`, s);
  }
  if (error instanceof ProviderDisabledError)
    return make('provider_disabled', false, `${name} is disabled.`, s);
  if (error instanceof UnsupportedProviderError || error instanceof ProviderConfigError) {
    return make('config', false, error.message, s);
  }
  if (error instanceof LlmAbortedError) {
    return make('generic', false, 'The request was canceled before it completed.', s);
  }
  if (isCallerDeadline(error)) {
    // The caller's own deadline passed: retrying would hit it again.
    return make('timeout', false, `${name} did not respond before the deadline.`, s);
  }

  const has = (patterns: string[]) => patterns.some((p) => s.text.includes(p));
  const configLike = has(CONFIG);
  const status = s.status;

  if (status === 529 || has(OVERLOADED))
    return make('overloaded', true, `${name} is overloaded right now.`, s);
  if (status === 402 || has(USAGE_LIMIT)) {
    return make('usage_limit', false, `${name} quota or billing limit reached.`, s);
  }
  if (status === 401 || has(AUTH)) return make('auth', false, `${name} rejected the API key.`, s);
  if ((status === 403 || has(FORBIDDEN)) && !configLike) {
    return make('auth', false, `${name} denied access with this API key.`, s);
  }
  if ((status === 429 || has(RATE_LIMIT)) && !configLike) {
    return make('rate_limit', true, `${name} rate limit reached.`, s);
  }
  if (has(DISABLED)) return make('provider_disabled', false, `${name} is disabled.`, s);
  if ((status === 408 || status === 502 || status === 503 || status === 504 || has(TIMEOUT)) && !configLike) {
    return make('timeout', true, `${name} is unavailable or did not respond in time.`, s);
  }
  if (configLike || status === 404) {
    return make('config', false, `${name} rejected the model configuration.`, s);
  }
  const retryable =
    status !== undefined ? status >= 500 || RETRYABLE_STATUS_CODES.has(status) : has(GENERIC_RETRYABLE);
  return make('generic', retryable, `${name} returned an error.`, s);
}

/**
 * Status, headers and the text to match, from an AI SDK error and its cause chain. Duck-typed
 * rather than `instanceof Error`: fetch's errors can come from another realm (Node's
 * internal undici, a test sandbox) and must still be recognised.
 */
function signalsOf(error: unknown): Signals {
  const texts: string[] = [];
  let status: number | undefined;
  let headers: Record<string, string> = {};
  let detail: string | undefined;
  const seen = new Set<unknown>();
  for (let current: unknown = error; current != null && !seen.has(current);) {
    seen.add(current);
    if (typeof current === 'string') {
      texts.push(current);
      detail ??= current;
      break;
    }
    if (typeof current !== 'object') break;
    const fields = current as { statusCode?: unknown; message?: unknown; code?: unknown; cause?: unknown };
    // A 2xx/3xx status on an error means the stream broke after a successful start.
    if (status === undefined && typeof fields.statusCode === 'number' && fields.statusCode >= 400) {
      status = fields.statusCode;
    }
    if (APICallError.isInstance(current)) {
      headers = { ...current.responseHeaders, ...headers };
      if (current.responseBody) texts.push(current.responseBody);
    }
    if (typeof fields.message === 'string' && fields.message) {
      texts.push(fields.message);
      detail ??= fields.message;
    }
    if (typeof fields.code === 'string') texts.push(fields.code);
    current = fields.cause;
  }
  return { status, headers: lowerKeys(headers), text: texts.join('\n').toLowerCase(), detail };
}

function isCallerDeadline(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'TimeoutError';
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** `retry-after-ms` (OpenAI) wins over `retry-after` (seconds or an HTTP date). */
export function parseRetryAfter(headers: Record<string, string>, now: number): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const raw = headers['retry-after']?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function truncateRunes(text: string, max: number): string {
  const runes = Array.from(text);
  return runes.length <= max ? text : runes.slice(0, max).join('');
}
