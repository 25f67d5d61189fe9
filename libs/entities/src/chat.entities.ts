// TypeORM entities of the chat tables (migration 1763800000000-Chats). bigint columns come
// back from the driver as strings; the hot paths use the raw-SQL query modules instead.
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import {
  CHAT_CLIENT_TYPES,
  CHAT_ROLES,
  CHAT_STATUSES,
  CHAT_VISIBILITIES,
  type ChatClientType,
  type ChatMessageRole,
  type ChatMessageVisibility,
  type ChatProviderType,
  type ChatStatus,
} from '@agentmesh/contracts';

export const CHAT_MODES = ['computer_use', 'explore'] as const;
export type ChatMode = (typeof CHAT_MODES)[number];
export const CHAT_PLAN_MODES = ['plan'] as const;
export type ChatPlanMode = (typeof CHAT_PLAN_MODES)[number];

@Entity('chat_providers')
export class ChatProviderEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') provider!: ChatProviderType;
  @Column('text', { name: 'display_name' }) displayName!: string;
  /** Ciphertext when apiKeyKeyId is set; never returned by the API. */
  @Column('text', { name: 'api_key', select: false }) apiKey!: string;
  @Column('text', { name: 'api_key_key_id', nullable: true }) apiKeyKeyId!: string | null;
  @Column('uuid', { name: 'created_by', nullable: true }) createdBy!: string | null;
  @Column('boolean') enabled!: boolean;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
  @Column('text', { name: 'base_url' }) baseUrl!: string;
  @Column('boolean', { name: 'central_api_key_enabled' }) centralApiKeyEnabled!: boolean;
  @Column('boolean', { name: 'allow_user_api_key' }) allowUserApiKey!: boolean;
  @Column('boolean', { name: 'allow_central_api_key_fallback' }) allowCentralApiKeyFallback!: boolean;
}

@Entity('user_chat_provider_keys')
export class UserChatProviderKeyEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('uuid', { name: 'user_id' }) userId!: string;
  @Column('uuid', { name: 'chat_provider_id' }) chatProviderId!: string;
  @Column('text', { name: 'api_key', select: false }) apiKey!: string;
  @Column('text', { name: 'api_key_key_id', nullable: true }) apiKeyKeyId!: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity('chat_model_configs')
export class ChatModelConfigEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') provider!: ChatProviderType;
  @Column('text') model!: string;
  @Column('text', { name: 'display_name' }) displayName!: string;
  @Column('uuid', { name: 'created_by', nullable: true }) createdBy!: string | null;
  @Column('uuid', { name: 'updated_by', nullable: true }) updatedBy!: string | null;
  @Column('boolean') enabled!: boolean;
  @Column('boolean', { name: 'is_default' }) isDefault!: boolean;
  @Column('boolean') deleted!: boolean;
  @Column('timestamptz', { name: 'deleted_at', nullable: true }) deletedAt!: Date | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
  @Column('bigint', { name: 'context_limit' }) contextLimit!: string;
  @Column('integer', { name: 'compression_threshold' }) compressionThreshold!: number;
  /** Provider call options plus `cost` (prices per million tokens). */
  @Column('jsonb') options!: Record<string, unknown>;
}

@Entity('chats')
export class ChatEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('uuid', { name: 'owner_id' }) ownerId!: string;
  @Column('uuid', { name: 'organization_id' }) organizationId!: string;
  /** No workspace tables exist here: workspace, build and agent ids carry no foreign key. */
  @Column('uuid', { name: 'workspace_id', nullable: true }) workspaceId!: string | null;
  @Column('uuid', { name: 'build_id', nullable: true }) buildId!: string | null;
  @Column('uuid', { name: 'agent_id', nullable: true }) agentId!: string | null;
  @Column('text') title!: string;
  @Column({ type: 'enum', enum: CHAT_STATUSES, enumName: 'chat_status' }) status!: ChatStatus;
  @Column('uuid', { name: 'worker_id', nullable: true }) workerId!: string | null;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt!: Date | null;
  @Column('timestamptz', { name: 'heartbeat_at', nullable: true }) heartbeatAt!: Date | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
  @Column('uuid', { name: 'parent_chat_id', nullable: true }) parentChatId!: string | null;
  @Column('uuid', { name: 'root_chat_id', nullable: true }) rootChatId!: string | null;
  @Column('uuid', { name: 'last_model_config_id' }) lastModelConfigId!: string;
  @Column('boolean') archived!: boolean;
  @Column('text', { name: 'last_error', nullable: true }) lastError!: string | null;
  @Column({ type: 'enum', enum: CHAT_MODES, enumName: 'chat_mode', nullable: true }) mode!: ChatMode | null;
  @Column({
    type: 'enum',
    enum: CHAT_PLAN_MODES,
    enumName: 'chat_plan_mode',
    name: 'plan_mode',
    nullable: true,
  })
  planMode!: ChatPlanMode | null;
  @Column('uuid', { name: 'mcp_server_ids', array: true }) mcpServerIds!: string[];
  @Column('jsonb') labels!: Record<string, string>;
  @Column('integer', { name: 'pin_order' }) pinOrder!: number;
  @Column('bigint', { name: 'last_read_message_id', nullable: true }) lastReadMessageId!: string | null;
  @Column('jsonb', { name: 'last_injected_context', nullable: true }) lastInjectedContext!: unknown[] | null;
  @Column('jsonb', { name: 'dynamic_tools', nullable: true }) dynamicTools!: unknown[] | null;
  @Column({ type: 'enum', enum: CHAT_CLIENT_TYPES, enumName: 'chat_client_type', name: 'client_type' })
  clientType!: ChatClientType;
}

@Entity('chat_messages')
export class ChatMessageEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column('uuid', { name: 'chat_id' }) chatId!: string;
  @Column('uuid', { name: 'model_config_id', nullable: true }) modelConfigId!: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column({ type: 'enum', enum: CHAT_ROLES, enumName: 'chat_message_role' }) role!: ChatMessageRole;
  /** The message parts (a JSON array), as stored. */
  @Column('jsonb', { nullable: true }) content!: unknown[] | null;
  @Column({ type: 'enum', enum: CHAT_VISIBILITIES, enumName: 'chat_message_visibility' })
  visibility!: ChatMessageVisibility;
  @Column('bigint', { name: 'input_tokens', nullable: true }) inputTokens!: string | null;
  @Column('bigint', { name: 'output_tokens', nullable: true }) outputTokens!: string | null;
  @Column('bigint', { name: 'total_tokens', nullable: true }) totalTokens!: string | null;
  @Column('bigint', { name: 'reasoning_tokens', nullable: true }) reasoningTokens!: string | null;
  @Column('bigint', { name: 'cache_creation_tokens', nullable: true }) cacheCreationTokens!: string | null;
  @Column('bigint', { name: 'cache_read_tokens', nullable: true }) cacheReadTokens!: string | null;
  @Column('bigint', { name: 'context_limit', nullable: true }) contextLimit!: string | null;
  @Column('boolean') compressed!: boolean;
  @Column('uuid', { name: 'created_by', nullable: true }) createdBy!: string | null;
  @Column('smallint', { name: 'content_version' }) contentVersion!: number;
  @Column('bigint', { name: 'total_cost_micros', nullable: true }) totalCostMicros!: string | null;
  @Column('bigint', { name: 'runtime_ms', nullable: true }) runtimeMs!: string | null;
  @Column('boolean') deleted!: boolean;
  @Column('text', { name: 'provider_response_id', nullable: true }) providerResponseId!: string | null;
}

@Entity('chat_queued_messages')
export class ChatQueuedMessageEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column('uuid', { name: 'chat_id' }) chatId!: string;
  @Column('jsonb') content!: unknown[];
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('uuid', { name: 'model_config_id', nullable: true }) modelConfigId!: string | null;
}

export const CHAT_ENTITIES = [
  ChatProviderEntity,
  UserChatProviderKeyEntity,
  ChatModelConfigEntity,
  ChatEntity,
  ChatMessageEntity,
  ChatQueuedMessageEntity,
];
