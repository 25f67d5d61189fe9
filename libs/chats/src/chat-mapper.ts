// Row → wire mapping for chats and messages (codersdk shapes). A Go server emits every
// "required" key of ChatMessagePart on every part, because the struct is shared; clients
// may depend on that, so `toWirePart` does the same.
import type { Chat, ChatMessage, ChatMessagePart, ChatMessageUsage, ChatStatus } from '@agentmesh/contracts';
import { wireTime } from '@agentmesh/contracts';
import type { ChatMessageRecord } from '@agentmesh/entities';

export interface ChatRow {
  id: string;
  owner_id: string;
  organization_id: string;
  workspace_id: string | null;
  build_id: string | null;
  agent_id: string | null;
  parent_chat_id: string | null;
  root_chat_id: string | null;
  last_model_config_id: string;
  title: string;
  status: ChatStatus;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  archived: boolean;
  pin_order: number;
  mcp_server_ids: string[];
  labels: Record<string, string>;
  client_type: 'ui' | 'api';
  plan_mode: 'plan' | null;
  last_read_message_id: string | number | null;
  worker_id: string | null;
}

/** Columns of `chats` (alias `c`) that ChatRow needs. */
export const CHAT_COLUMNS = `c.id, c.owner_id, c.organization_id, c.workspace_id, c.build_id, c.agent_id, c.parent_chat_id,
  c.root_chat_id, c.last_model_config_id, c.title, c.status, c.last_error, c.created_at, c.updated_at, c.archived,
  c.pin_order, c.mcp_server_ids, c.labels, c.client_type, c.plan_mode, c.last_read_message_id, c.worker_id`;

/** `hasUnread`: a newer assistant message than the last one the owner read. */
export function toChat(r: ChatRow, opts: { hasUnread?: boolean; children?: Chat[] } = {}): Chat {
  return {
    id: r.id,
    organization_id: r.organization_id,
    owner_id: r.owner_id,
    ...(r.workspace_id ? { workspace_id: r.workspace_id } : {}),
    ...(r.build_id ? { build_id: r.build_id } : {}),
    ...(r.agent_id ? { agent_id: r.agent_id } : {}),
    ...(r.parent_chat_id ? { parent_chat_id: r.parent_chat_id } : {}),
    ...(r.root_chat_id ? { root_chat_id: r.root_chat_id } : {}),
    last_model_config_id: r.last_model_config_id,
    title: r.title,
    status: r.status,
    last_error: r.last_error,
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
    archived: r.archived,
    pin_order: r.pin_order,
    has_unread: opts.hasUnread ?? false,
    mcp_server_ids: r.mcp_server_ids ?? [],
    labels: r.labels ?? {},
    client_type: r.client_type,
    ...(r.plan_mode ? { plan_mode: r.plan_mode } : {}),
    children: opts.children ?? [],
  };
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** A stored part as the wire shows it: every required key present, internal keys dropped. */
export function toWirePart(p: ChatMessagePart): ChatMessagePart {
  const {
    text = '',
    url = '',
    media_type = '',
    file_name = '',
    start_line = 0,
    end_line = 0,
    content = '',
    context_file_path = '',
    skill_name = '',
    mcp_server_config_id = null,
    file_id = null,
    context_file_agent_id = null,
    ...rest
  } = p;
  for (const hidden of [
    'provider_metadata',
    'context_file_content',
    'context_file_os',
    'context_file_directory',
    'skill_dir',
    'context_file_skill_meta_file',
  ]) {
    delete (rest as Record<string, unknown>)[hidden];
  }
  return {
    ...rest,
    text,
    url,
    media_type,
    file_name,
    start_line,
    end_line,
    content,
    context_file_path,
    skill_name,
    mcp_server_config_id: mcp_server_config_id === NIL_UUID ? null : mcp_server_config_id,
    file_id: file_id === NIL_UUID ? null : file_id,
    context_file_agent_id: context_file_agent_id === NIL_UUID ? null : context_file_agent_id,
  };
}

export function toChatMessage(r: ChatMessageRecord): ChatMessage {
  const usage: ChatMessageUsage = {};
  const put = (k: keyof ChatMessageUsage, v: number | null) => {
    if (v !== null && v !== undefined) usage[k] = Number(v);
  };
  put('input_tokens', r.input_tokens);
  put('output_tokens', r.output_tokens);
  put('total_tokens', r.total_tokens);
  put('reasoning_tokens', r.reasoning_tokens);
  put('cache_creation_tokens', r.cache_creation_tokens);
  put('cache_read_tokens', r.cache_read_tokens);
  put('context_limit', r.context_limit);
  return {
    id: Number(r.id),
    chat_id: r.chat_id,
    created_at: wireTime(r.created_at),
    role: r.role,
    ...(r.created_by ? { created_by: r.created_by } : {}),
    ...(r.model_config_id ? { model_config_id: r.model_config_id } : {}),
    ...(r.content ? { content: (r.content as ChatMessagePart[]).map(toWirePart) } : {}),
    ...(Object.keys(usage).length > 0 ? { usage } : {}),
  };
}
