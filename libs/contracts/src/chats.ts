// Chats on the wire (codersdk `chats.go` equivalents, Era A): chats, messages and their
// parts, the queue, requests, stream and watch events, providers and model configs.
export const CHAT_STATUSES = [
  'waiting',
  'pending',
  'running',
  'paused',
  'completed',
  'error',
  'requires_action',
] as const;
export type ChatStatus = (typeof CHAT_STATUSES)[number];
export const CHAT_ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export type ChatMessageRole = (typeof CHAT_ROLES)[number];
export const CHAT_VISIBILITIES = ['user', 'model', 'both'] as const;
export type ChatMessageVisibility = (typeof CHAT_VISIBILITIES)[number];
export const CHAT_CLIENT_TYPES = ['ui', 'api'] as const;
export type ChatClientType = (typeof CHAT_CLIENT_TYPES)[number];
export const BUSY_BEHAVIORS = ['queue', 'interrupt'] as const;
export type BusyBehavior = (typeof BUSY_BEHAVIORS)[number];
export const CHAT_PROVIDER_TYPES = [
  'anthropic',
  'azure',
  'bedrock',
  'google',
  'openai',
  'openai-compat',
  'openrouter',
  'vercel',
] as const;
export type ChatProviderType = (typeof CHAT_PROVIDER_TYPES)[number];

export interface Chat {
  id: string;
  organization_id: string;
  owner_id: string;
  workspace_id?: string;
  build_id?: string;
  agent_id?: string;
  parent_chat_id?: string;
  root_chat_id?: string;
  last_model_config_id: string;
  title: string;
  status: ChatStatus;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  archived: boolean;
  pin_order: number;
  has_unread: boolean;
  mcp_server_ids: string[];
  labels: Record<string, string>;
  client_type: ChatClientType;
  plan_mode?: 'plan';
  children: Chat[];
  warnings?: string[];
}

export type ChatMessagePartType =
  | 'text'
  | 'reasoning'
  | 'tool-call'
  | 'tool-result'
  | 'source'
  | 'file'
  | 'file-reference'
  | 'context-file'
  | 'skill';

/**
 * One part of a message. A Go server emits every "required" key on every part (the struct is
 * shared), so the wire form always carries text/url/media_type/… — see `toWirePart`.
 */
export interface ChatMessagePart {
  type: ChatMessagePartType;
  text?: string;
  signature?: string;
  tool_call_id?: string;
  tool_name?: string;
  mcp_server_config_id?: string | null;
  args?: unknown;
  args_delta?: string;
  result?: unknown;
  result_delta?: string;
  is_error?: boolean;
  is_media?: boolean;
  provider_executed?: boolean;
  created_at?: string;
  url?: string;
  source_id?: string;
  title?: string;
  media_type?: string;
  name?: string;
  data?: string;
  file_id?: string | null;
  file_name?: string;
  start_line?: number;
  end_line?: number;
  content?: string;
  context_file_path?: string;
  context_file_truncated?: boolean;
  context_file_agent_id?: string | null;
  skill_name?: string;
  skill_description?: string;
}

export interface ChatMessageUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  reasoning_tokens?: number;
  cache_creation_tokens?: number;
  cache_read_tokens?: number;
  context_limit?: number;
}

export interface ChatMessage {
  id: number;
  chat_id: string;
  created_at: string;
  role: ChatMessageRole;
  created_by?: string;
  model_config_id?: string;
  content?: ChatMessagePart[];
  usage?: ChatMessageUsage;
}

export interface ChatQueuedMessage {
  id: number;
  chat_id: string;
  content: ChatMessagePart[];
  created_at: string;
  model_config_id?: string;
}

export interface ChatInputPart {
  type: string;
  text?: string;
  file_id?: string;
  file_name?: string;
  start_line?: number;
  end_line?: number;
  content?: string;
}

export interface CreateChatRequest {
  organization_id: string;
  content: ChatInputPart[];
  system_prompt?: string;
  workspace_id?: string;
  model_config_id?: string;
  mcp_server_ids?: string[];
  labels?: Record<string, string>;
  plan_mode?: '' | 'plan';
  client_type?: ChatClientType;
}

export interface UpdateChatRequest {
  title?: string;
  archived?: boolean;
  pin_order?: number;
  labels?: Record<string, string>;
  workspace_id?: string;
  plan_mode?: '' | 'plan';
}

export interface CreateChatMessageRequest {
  content: ChatInputPart[];
  model_config_id?: string;
  mcp_server_ids?: string[] | null;
  busy_behavior?: BusyBehavior;
  plan_mode?: '' | 'plan';
}

export interface CreateChatMessageResponse {
  message?: ChatMessage;
  queued_message?: ChatQueuedMessage;
  queued: boolean;
  warnings?: string[];
}

export interface ChatMessagesResponse {
  messages: ChatMessage[];
  queued_messages: ChatQueuedMessage[];
  has_more: boolean;
}

export interface ChatStreamError {
  message: string;
  detail?: string;
  kind?: string;
  provider?: string;
  retryable: boolean;
  status_code?: number;
}

export interface ChatStreamRetry {
  attempt: number;
  delay_ms: number;
  error: string;
  kind?: string;
  provider?: string;
  status_code?: number;
  retrying_at: string;
}

export interface ChatToolCallRequest {
  tool_call_id: string;
  tool_name: string;
  /** JSON text, as the reference sends it. */
  args: string;
}

/** One event of a stream frame (frames are JSON arrays of these). */
export type ChatStreamEvent =
  | {
      type: 'message_part';
      chat_id: string;
      message_part: { role?: ChatMessageRole; part: ChatMessagePart; seq?: number };
    }
  | { type: 'message'; chat_id: string; message: ChatMessage }
  | { type: 'status'; chat_id: string; status: { status: ChatStatus } }
  | { type: 'error'; chat_id: string; error: ChatStreamError }
  | { type: 'retry'; chat_id: string; retry: ChatStreamRetry }
  | { type: 'queue_update'; chat_id: string; queued_messages: ChatQueuedMessage[] }
  | { type: 'action_required'; chat_id: string; action_required: { tool_calls: ChatToolCallRequest[] } };

export const CHAT_WATCH_KINDS = [
  'status_change',
  'title_change',
  'created',
  'deleted',
  'diff_status_change',
  'action_required',
] as const;
export type ChatWatchKind = (typeof CHAT_WATCH_KINDS)[number];

export interface ChatWatchEvent {
  kind: ChatWatchKind;
  chat: Chat;
  tool_calls?: ChatToolCallRequest[];
}

export interface ChatCostPrices {
  input_price_per_million_tokens?: string;
  output_price_per_million_tokens?: string;
  cache_read_price_per_million_tokens?: string;
  cache_write_price_per_million_tokens?: string;
}

export interface ChatModelCallConfig {
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  cost?: ChatCostPrices;
  provider_options?: Record<string, unknown>;
}

export interface ChatModelConfig {
  id: string;
  provider: ChatProviderType;
  model: string;
  display_name: string;
  enabled: boolean;
  is_default: boolean;
  context_limit: number;
  compression_threshold: number;
  model_config?: ChatModelCallConfig;
  created_at: string;
  updated_at: string;
}

export interface ChatProviderConfig {
  id: string;
  provider: ChatProviderType;
  display_name: string;
  enabled: boolean;
  has_api_key: boolean;
  central_api_key_enabled: boolean;
  allow_user_api_key: boolean;
  allow_central_api_key_fallback: boolean;
  base_url?: string;
  source: 'database' | 'supported' | 'env_preset';
  created_at: string;
  updated_at: string;
}
