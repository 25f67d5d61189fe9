// The AI Bridge read API on the wire (/api/v2/aibridge, codersdk equivalents, snake_case):
// interceptions, sessions, a session's threads, and the model and client pickers. The bus
// records the recorder consumes are in ./aibridge.ts.
import type { MinimalUser } from './users';

/** Paging limits of the read API. */
export const AIBRIDGE_API_LIMITS = {
  /** Interceptions, sessions, models and clients: default and maximum page size. */
  listDefault: 100,
  listMax: 1000,
  /** Threads of one session. */
  threadsDefault: 50,
  threadsMax: 200,
} as const;

/** The `client` reported for interceptions recorded without one. */
export const AIBRIDGE_UNKNOWN_CLIENT = 'Unknown';

export interface AIBridgeTokenUsage {
  id: string;
  interception_id: string;
  provider_response_id: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface AIBridgeUserPrompt {
  id: string;
  interception_id: string;
  provider_response_id: string;
  prompt: string;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface AIBridgeToolUsage {
  id: string;
  interception_id: string;
  provider_response_id: string;
  /** MCP server of an injected tool; "" for a tool the client defined. */
  server_url: string;
  tool: string;
  /** JSON-encoded arguments. */
  input: string;
  injected: boolean;
  /** "" unless an injected tool failed. */
  invocation_error: string;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface AIBridgeInterception {
  id: string;
  api_key_id: string | null;
  initiator: MinimalUser;
  /** Provider type: openai, anthropic, copilot. */
  provider: string;
  /** Provider instance, e.g. copilot-business. */
  provider_name: string;
  model: string;
  client: string | null;
  metadata: Record<string, unknown>;
  started_at: string;
  ended_at: string | null;
  token_usages: AIBridgeTokenUsage[];
  user_prompts: AIBridgeUserPrompt[];
  tool_usages: AIBridgeToolUsage[];
}

export interface AIBridgeListInterceptionsResponse {
  count: number;
  results: AIBridgeInterception[];
}

export interface AIBridgeSessionTokenUsageSummary {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

/** A session: the completed interceptions of one initiator sharing a session id. */
export interface AIBridgeSession {
  id: string;
  initiator: MinimalUser;
  /** Distinct provider types, sorted. */
  providers: string[];
  /** Distinct models, sorted. */
  models: string[];
  /** The first interception's client. */
  client: string | null;
  /** The first interception's metadata. */
  metadata: Record<string, unknown>;
  started_at: string;
  ended_at?: string;
  /** Thread roots (interceptions with no thread root of their own). */
  threads: number;
  token_usage_summary: AIBridgeSessionTokenUsageSummary;
  /** The newest prompt recorded in the session. */
  last_prompt?: string;
}

export interface AIBridgeListSessionsResponse {
  count: number;
  sessions: AIBridgeSession[];
}

/** Token sums plus every numeric metadata leaf summed by (dot-joined) key. */
export interface AIBridgeSessionThreadsTokenUsage extends AIBridgeSessionTokenUsageSummary {
  metadata: Record<string, number>;
}

export interface AIBridgeModelThought {
  text: string;
}

/** A tool usage inside an agentic action (no invocation_error). */
export interface AIBridgeToolCall {
  id: string;
  interception_id: string;
  provider_response_id: string;
  server_url: string;
  tool: string;
  injected: boolean;
  input: string;
  metadata: Record<string, unknown>;
  created_at: string;
}

/** One interception of a thread that called tools. */
export interface AIBridgeAgenticAction {
  model: string;
  token_usage: AIBridgeSessionThreadsTokenUsage;
  thinking: AIBridgeModelThought[];
  tool_calls: AIBridgeToolCall[];
}

/** A thread: a root interception and the interceptions its tool calls led to. */
export interface AIBridgeThread {
  /** The root interception's id. */
  id: string;
  prompt?: string;
  model: string;
  provider: string;
  credential_kind: string;
  credential_hint: string;
  started_at: string;
  ended_at?: string;
  token_usage: AIBridgeSessionThreadsTokenUsage;
  agentic_actions: AIBridgeAgenticAction[];
}

export interface AIBridgeSessionThreadsResponse {
  id: string;
  initiator: MinimalUser;
  providers: string[];
  models: string[];
  client?: string;
  metadata: Record<string, unknown>;
  /** Earliest start and latest end among the page's interceptions (absent on an empty page). */
  page_started_at?: string;
  page_ended_at?: string;
  started_at: string;
  ended_at?: string;
  token_usage_summary: AIBridgeSessionThreadsTokenUsage;
  threads: AIBridgeThread[];
}
