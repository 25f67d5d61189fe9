import { MigrationInterface, QueryRunner } from 'typeorm';

// Chats: LLM providers (and users' own keys for them), model configs, chats, their messages
// and the per-chat queue of messages waiting for the current turn to end. Table, column,
// enum and index names follow the reference system's Era A schema.
//
// Decisions:
// - There are no workspace tables in this project, so chats.workspace_id, build_id and
//   agent_id are plain nullable uuid columns without foreign keys.
// - chat_model_configs.provider has no foreign key to chat_providers: deleting a provider
//   hard-deletes its row and soft-deletes its configs, which old chats still resolve. The
//   service checks the provider exists (FOR UPDATE) when a config is created or changed.
// - idx_chats_pending stays on (status) as in the reference rather than (updated_at): the
//   pending set is small, and indexing updated_at would make every touch of a chat (each
//   message insert) a non-HOT update.
// - idx_chat_messages_chat and idx_chat_queued_messages_chat_id carry id after chat_id, so
//   the newest-first message pages and the FIFO queue read in index order.
export class Chats1763800000000 implements MigrationInterface {
  name = 'Chats1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TYPE chat_status AS ENUM (
        'waiting', 'pending', 'running', 'paused', 'completed', 'error', 'requires_action'
      );
      CREATE TYPE chat_message_role AS ENUM ('system', 'user', 'assistant', 'tool');
      CREATE TYPE chat_message_visibility AS ENUM ('user', 'model', 'both');
      CREATE TYPE chat_mode AS ENUM ('computer_use', 'explore');
      CREATE TYPE chat_plan_mode AS ENUM ('plan');
      CREATE TYPE chat_client_type AS ENUM ('ui', 'api');

      -- One row per configured provider type. api_key is encrypted by libs/crypto when
      -- api_key_key_id names the key (NULL: stored as plaintext, or '' for none).
      CREATE TABLE chat_providers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL,
        display_name text NOT NULL DEFAULT '',
        api_key text NOT NULL DEFAULT '',
        api_key_key_id text REFERENCES dbcrypt_keys (active_key_digest),
        created_by uuid REFERENCES users (id) ON DELETE SET NULL,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        base_url text NOT NULL DEFAULT '',
        central_api_key_enabled boolean NOT NULL DEFAULT true,
        allow_user_api_key boolean NOT NULL DEFAULT false,
        allow_central_api_key_fallback boolean NOT NULL DEFAULT false,
        CONSTRAINT chat_providers_provider_key UNIQUE (provider),
        CONSTRAINT chat_providers_provider_check CHECK (provider IN (
          'anthropic', 'azure', 'bedrock', 'google', 'openai', 'openai-compat', 'openrouter', 'vercel'
        )),
        -- Some credential must be usable, and falling back to the central key only makes
        -- sense when both kinds are allowed.
        CONSTRAINT valid_credential_policy CHECK (
          (central_api_key_enabled OR allow_user_api_key)
          AND (NOT allow_central_api_key_fallback OR (central_api_key_enabled AND allow_user_api_key))
        )
      );

      -- Users' own keys for providers that allow them (BYOK), encrypted like chat_providers.
      CREATE TABLE user_chat_provider_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        chat_provider_id uuid NOT NULL REFERENCES chat_providers (id) ON DELETE CASCADE,
        api_key text NOT NULL,
        api_key_key_id text REFERENCES dbcrypt_keys (active_key_digest),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT user_chat_provider_keys_api_key_check CHECK (api_key <> ''),
        CONSTRAINT user_chat_provider_keys_user_id_chat_provider_id_key UNIQUE (user_id, chat_provider_id)
      );
      CREATE INDEX idx_user_chat_provider_keys_chat_provider_id ON user_chat_provider_keys (chat_provider_id);

      -- Models offered to chats. Deletion is soft (deleted, deleted_at) so chats and messages
      -- keep resolving the config they ran with. options holds the provider call options and
      -- cost (prices per million tokens).
      CREATE TABLE chat_model_configs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL,
        model text NOT NULL,
        display_name text NOT NULL DEFAULT '',
        created_by uuid REFERENCES users (id) ON DELETE SET NULL,
        updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
        enabled boolean NOT NULL DEFAULT true,
        is_default boolean NOT NULL DEFAULT false,
        deleted boolean NOT NULL DEFAULT false,
        deleted_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        context_limit bigint NOT NULL,
        compression_threshold integer NOT NULL DEFAULT 70,
        options jsonb NOT NULL DEFAULT '{}',
        CONSTRAINT chat_model_configs_provider_check CHECK (provider IN (
          'anthropic', 'azure', 'bedrock', 'google', 'openai', 'openai-compat', 'openrouter', 'vercel'
        )),
        CONSTRAINT chat_model_configs_context_limit_check CHECK (context_limit > 0),
        CONSTRAINT chat_model_configs_compression_threshold_check
          CHECK (compression_threshold >= 0 AND compression_threshold <= 100),
        CONSTRAINT chat_model_configs_options_is_object CHECK (jsonb_typeof(options) = 'object')
      );
      -- At most one default among the live configs.
      CREATE UNIQUE INDEX idx_chat_model_configs_single_default ON chat_model_configs ((1))
        WHERE is_default AND NOT deleted;
      -- The list order (and a provider's live configs, for provider deletion).
      CREATE INDEX idx_chat_model_configs_list
        ON chat_model_configs (provider, model, updated_at DESC, id DESC) WHERE NOT deleted;

      CREATE TABLE chats (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        -- No workspace tables exist in this project: these are plain ids without foreign keys.
        workspace_id uuid,
        build_id uuid,
        agent_id uuid,
        title text NOT NULL DEFAULT 'New Chat',
        status chat_status NOT NULL DEFAULT 'waiting',
        worker_id uuid,
        started_at timestamptz,
        heartbeat_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        parent_chat_id uuid REFERENCES chats (id) ON DELETE SET NULL,
        root_chat_id uuid REFERENCES chats (id) ON DELETE SET NULL,
        last_model_config_id uuid NOT NULL REFERENCES chat_model_configs (id),
        archived boolean NOT NULL DEFAULT false,
        last_error text,
        mode chat_mode,
        plan_mode chat_plan_mode,
        mcp_server_ids uuid[] NOT NULL DEFAULT '{}',
        labels jsonb NOT NULL DEFAULT '{}',
        pin_order integer NOT NULL DEFAULT 0,
        last_read_message_id bigint,
        last_injected_context jsonb,
        dynamic_tools jsonb,
        client_type chat_client_type NOT NULL DEFAULT 'api',
        CONSTRAINT chats_labels_is_object CHECK (jsonb_typeof(labels) = 'object'),
        CONSTRAINT chats_pin_order_check CHECK (pin_order >= 0)
      ) WITH (fillfactor = 80); -- room on each page so heartbeats stay HOT updates
      CREATE INDEX idx_chats_labels ON chats USING gin (labels);
      CREATE INDEX idx_chats_pending ON chats (status) WHERE status = 'pending';
      -- Stale-chat recovery scans running chats only; indexing status (not heartbeat_at) keeps
      -- the heartbeat's updates HOT.
      CREATE INDEX idx_chats_running ON chats (status) WHERE status = 'running';
      -- Interrupted chats whose worker died before finishing (waiting, worker still set).
      CREATE INDEX idx_chats_waiting_owned ON chats (worker_id) WHERE status = 'waiting' AND worker_id IS NOT NULL;
      CREATE INDEX idx_chats_owner ON chats (owner_id);
      CREATE INDEX idx_chats_workspace ON chats (workspace_id);
      CREATE INDEX idx_chats_parent_chat_id ON chats (parent_chat_id);
      CREATE INDEX idx_chats_root_chat_id ON chats (root_chat_id);
      CREATE INDEX idx_chats_last_model_config_id ON chats (last_model_config_id);
      CREATE INDEX idx_chats_organization_id ON chats (organization_id);
      CREATE INDEX idx_chats_agent_id ON chats (agent_id) WHERE agent_id IS NOT NULL;

      -- Message ids are int64 and ascend in insertion order. Zero usage and cost values are
      -- stored as NULL; deleted marks messages removed by an edit (soft delete).
      CREATE TABLE chat_messages (
        id bigserial PRIMARY KEY,
        chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        model_config_id uuid REFERENCES chat_model_configs (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        role chat_message_role NOT NULL,
        content jsonb,
        visibility chat_message_visibility NOT NULL DEFAULT 'both',
        input_tokens bigint,
        output_tokens bigint,
        total_tokens bigint,
        reasoning_tokens bigint,
        cache_creation_tokens bigint,
        cache_read_tokens bigint,
        context_limit bigint,
        compressed boolean NOT NULL DEFAULT false,
        created_by uuid REFERENCES users (id) ON DELETE SET NULL,
        content_version smallint NOT NULL,
        total_cost_micros bigint,
        runtime_ms bigint,
        deleted boolean NOT NULL DEFAULT false,
        provider_response_id text,
        CONSTRAINT chat_messages_content_is_array CHECK (content IS NULL OR jsonb_typeof(content) = 'array')
      );
      CREATE INDEX idx_chat_messages_chat ON chat_messages (chat_id, id);
      CREATE INDEX idx_chat_messages_chat_created ON chat_messages (chat_id, created_at);
      CREATE INDEX idx_chat_messages_created_at ON chat_messages (created_at);
      -- Spend: priced messages of a chat over a period.
      CREATE INDEX idx_chat_messages_chat_cost ON chat_messages (chat_id, created_at)
        WHERE total_cost_micros IS NOT NULL;
      -- The newest compressed summary of a chat (compaction boundary).
      CREATE INDEX idx_chat_messages_compressed_summary_boundary
        ON chat_messages (chat_id, created_at DESC, id DESC)
        WHERE compressed AND role = 'system' AND visibility IN ('model', 'both');

      -- Messages sent while a turn runs, FIFO by id (the API caps a chat's queue).
      CREATE TABLE chat_queued_messages (
        id bigserial PRIMARY KEY,
        chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        content jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        model_config_id uuid REFERENCES chat_model_configs (id) ON DELETE SET NULL
      );
      CREATE INDEX idx_chat_queued_messages_chat_id ON chat_queued_messages (chat_id, id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE chat_queued_messages, chat_messages, chats, chat_model_configs,
        user_chat_provider_keys, chat_providers;
      DROP TYPE chat_client_type, chat_plan_mode, chat_mode, chat_message_visibility,
        chat_message_role, chat_status;
    `);
  }
}
