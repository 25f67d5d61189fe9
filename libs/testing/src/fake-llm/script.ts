// What a test scripts for one call to a fake LLM server. A script is format-neutral: the
// server renders it in the wire format of the endpoint that was hit (OpenAI Chat
// Completions, OpenAI Responses or Anthropic Messages), so one script serves any provider.
// Token counts are given the way libs/llm normalises them (input excludes cache reads and
// writes; output includes reasoning) and each format converts them to its own fields.

/** A tool call the fake model makes; `args` is streamed in `argChunks` pieces. */
export interface FakeToolCall {
  /** Provider tool call id (generated when omitted). */
  id?: string;
  name: string;
  /** The arguments: an object (JSON-encoded on the wire) or raw JSON text. */
  args: unknown;
  /** How many deltas the argument text is split into (default 2, to exercise merging). */
  argChunks?: number;
}

export interface FakeUsage {
  /** Uncached input tokens. */
  inputTokens: number;
  /** Output tokens, reasoning included. */
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

/** An HTTP error answer; the body is provider-shaped unless `body` overrides it. */
export interface FakeHttpError {
  status: number;
  message?: string;
  /** Provider error type, e.g. `rate_limit_error`, `overloaded_error`, `server_error`. */
  type?: string;
  /** OpenAI's `error.code`, e.g. `insufficient_quota`. */
  code?: string;
  /** Sent as the `retry-after` header (seconds). */
  retryAfterSeconds?: number;
  headers?: Record<string, string>;
  /** Raw JSON body, sent as is. */
  body?: unknown;
}

export interface FakeLlmResponse {
  /** Provider response id (`chatcmpl-…`, `resp_…`, `msg_…` generated when omitted). */
  id?: string;
  model?: string;
  /** Text deltas, in order (a string is one delta). */
  text?: string | string[];
  /** Reasoning deltas, streamed before the text. */
  reasoning?: string | string[];
  /** Anthropic thinking signature (a fixed one is sent when reasoning is scripted). */
  reasoningSignature?: string;
  toolCalls?: FakeToolCall[];
  usage?: FakeUsage;
  /** Defaults to tool calls when any are scripted, else a normal stop. */
  finishReason?: 'stop' | 'length' | 'tool_calls';
  /** Answer with this HTTP error instead of a completion. */
  error?: FakeHttpError;
  /** Wait this long before the first event (headers are sent at once) or the error. */
  delayMs?: number;
  /** Wait this long between events. */
  chunkDelayMs?: number;
  /** Send this many events, then keep the connection open and silent until it is closed. */
  stallAfterEvents?: number;
  /** Send this many events, then destroy the connection (a network failure mid-stream). */
  dropAfterEvents?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/** One request the server received. */
export interface FakeLlmRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: unknown;
  /** The wire format the server answered in, when the path was recognised. */
  format?: FakeLlmFormat;
}

export type FakeLlmFormat = 'openai-chat' | 'openai-responses' | 'anthropic';

/** Inputs a renderer needs besides the script. */
export interface RenderContext {
  /** Sequence number of this call on the server, for deterministic ids. */
  callNumber: number;
  /** The model named in the request, echoed when the script names none. */
  requestModel: string;
  /** OpenAI chat: whether the client asked for a usage chunk. */
  includeUsage: boolean;
}

export const asChunks = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** The argument text of a tool call, split into `argChunks` roughly equal pieces. */
export function argumentChunks(call: FakeToolCall): { full: string; chunks: string[] } {
  const full = typeof call.args === 'string' ? call.args : JSON.stringify(call.args ?? {});
  const count = Math.max(1, Math.min(call.argChunks ?? 2, full.length || 1));
  const size = Math.ceil(full.length / count);
  const chunks: string[] = [];
  for (let i = 0; i < full.length; i += size) chunks.push(full.slice(i, i + size));
  return { full, chunks: chunks.length > 0 ? chunks : [''] };
}

export const finishReasonOf = (script: FakeLlmResponse): 'stop' | 'length' | 'tool_calls' =>
  script.finishReason ?? ((script.toolCalls?.length ?? 0) > 0 ? 'tool_calls' : 'stop');
