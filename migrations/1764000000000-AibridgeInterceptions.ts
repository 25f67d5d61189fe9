import { MigrationInterface, QueryRunner } from 'typeorm';

// AI Bridge: one row per LLM request an AI gateway intercepted, and the records attached to it
// (token usages, user prompts, tool usages, model thoughts), written by aibridge-recorder.
// Names and types follow the reference system's schema at the point where sessions existed but
// provider_name (1764000000001) and the token cache columns (1764000000002) did not yet.
//
// Decisions:
// - initiator_id is a plain uuid without a foreign key to users, and the child tables have no
//   foreign key to aibridge_interceptions: these are append-heavy audit tables and the
//   reference leaves the constraints out for write speed. Retention deletes children first.
// - session_id is a stored generated column (client session id, else thread root, else the
//   interception itself), so sessions group and filter on one indexed column.
// - Deviation from the reference: aibridge_model_thoughts has `id uuid PRIMARY KEY`. The
//   reference table has no id; every record on our bus carries its own uuid, so the recorder
//   can insert thoughts, like every other record, with ON CONFLICT (id) DO NOTHING and a
//   redelivered message writes nothing twice.
// - The reference's idx_aibridge_interceptions_session_id, (session_id) WHERE ended_at IS NOT
//   NULL, becomes (session_id, initiator_id, started_at) INCLUDE (ended_at, thread_root_id) with
//   the same predicate; it still serves every lookup by session_id (cursor resolution, a
//   session's threads, the enrichment of a page). The sessions list groups all completed
//   interceptions by (session_id, initiator_id) and sorts the groups by MIN(started_at), so no
//   index can hand it a page directly: every group must be aggregated. With the reference's
//   index Postgres reads the whole heap and sorts 2M rows on disk; this one feeds a streaming
//   GroupAggregate from an index-only scan in group order (no heap, no sort, no spill; measured
//   at 2M interceptions / 414k sessions: page 8.9 s -> ~2 s, count 4.8 s -> 0.85 s). For the
//   scan to match the group order the query must order its tie-breakers in one direction
//   (session_id DESC, initiator_id DESC), and count with a GROUP BY subquery rather than
//   COUNT(DISTINCT ...). started_at is a key column so a "first interception of its session"
//   anti-join can also probe it, which pages in ~10 ms without aggregating everything.
// - user_prompts has no index on interception_id alone: (interception_id, created_at DESC,
//   id DESC), which finds an interception's latest prompt, serves those lookups too.
export class AibridgeInterceptions1764000000000 implements MigrationInterface {
  name = 'AibridgeInterceptions1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TYPE credential_kind AS ENUM ('centralized', 'byok');

      CREATE TABLE aibridge_interceptions (
        id uuid PRIMARY KEY,
        initiator_id uuid NOT NULL,
        -- Provider type: openai, anthropic, copilot.
        provider text NOT NULL,
        model text NOT NULL,
        started_at timestamptz NOT NULL,
        -- NULL while the request is in flight; lists and counts only read ended rows.
        ended_at timestamptz,
        metadata jsonb,
        api_key_id text,
        client varchar(64) DEFAULT 'Unknown',
        -- The interception whose tool call led to this one, and the root of that thread
        -- (NULL: this interception is a thread root).
        thread_parent_id uuid,
        thread_root_id uuid,
        client_session_id varchar(256),
        session_id text NOT NULL
          GENERATED ALWAYS AS (COALESCE(client_session_id::text, thread_root_id::text, id::text)) STORED,
        credential_kind credential_kind NOT NULL DEFAULT 'centralized',
        -- Masked key, e.g. sk-a...efgh.
        credential_hint varchar(15) NOT NULL DEFAULT ''
      );
      CREATE INDEX idx_aibridge_interceptions_client ON aibridge_interceptions (client);
      CREATE INDEX idx_aibridge_interceptions_client_session_id ON aibridge_interceptions (client_session_id)
        WHERE client_session_id IS NOT NULL;
      CREATE INDEX idx_aibridge_interceptions_initiator_id ON aibridge_interceptions (initiator_id);
      CREATE INDEX idx_aibridge_interceptions_model ON aibridge_interceptions (model);
      CREATE INDEX idx_aibridge_interceptions_provider ON aibridge_interceptions (provider);
      -- Sessions: see the decision above.
      CREATE INDEX idx_aibridge_interceptions_session_id
        ON aibridge_interceptions (session_id, initiator_id, started_at) INCLUDE (ended_at, thread_root_id)
        WHERE ended_at IS NOT NULL;
      -- A user's completed interceptions, newest first.
      CREATE INDEX idx_aibridge_interceptions_initiator_started
        ON aibridge_interceptions (initiator_id, started_at DESC, id DESC) WHERE ended_at IS NOT NULL;
      -- The interceptions list order and keyset cursor, and retention by started_at.
      CREATE INDEX idx_aibridge_interceptions_started_id_desc
        ON aibridge_interceptions (started_at DESC, id DESC);
      CREATE INDEX idx_aibridge_interceptions_thread_parent_id ON aibridge_interceptions (thread_parent_id);
      CREATE INDEX idx_aibridge_interceptions_thread_root_id ON aibridge_interceptions (thread_root_id);

      -- One row per provider response (an agentic loop yields several per interception).
      CREATE TABLE aibridge_token_usages (
        id uuid PRIMARY KEY,
        interception_id uuid NOT NULL,
        provider_response_id text NOT NULL,
        input_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        metadata jsonb,
        created_at timestamptz NOT NULL
      );
      CREATE INDEX idx_aibridge_token_usages_interception_id ON aibridge_token_usages (interception_id);
      CREATE INDEX idx_aibridge_token_usages_provider_response_id
        ON aibridge_token_usages (provider_response_id);

      CREATE TABLE aibridge_user_prompts (
        id uuid PRIMARY KEY,
        interception_id uuid NOT NULL,
        provider_response_id text NOT NULL,
        prompt text NOT NULL,
        metadata jsonb,
        created_at timestamptz NOT NULL
      );
      -- An interception's prompts, and its latest one (also serves lookups by interception_id).
      CREATE INDEX idx_aibridge_user_prompts_interception_created
        ON aibridge_user_prompts (interception_id, created_at DESC, id DESC);
      CREATE INDEX idx_aibridge_user_prompts_provider_response_id
        ON aibridge_user_prompts (provider_response_id);

      CREATE TABLE aibridge_tool_usages (
        id uuid PRIMARY KEY,
        interception_id uuid NOT NULL,
        provider_response_id text NOT NULL,
        -- Correlates a later request's tool result with this call (thread lineage).
        provider_tool_call_id text,
        provider_item_id text,
        -- MCP server of an injected tool; NULL for a tool the client defined.
        server_url text,
        tool text NOT NULL,
        -- JSON-encoded arguments.
        input text NOT NULL,
        injected boolean NOT NULL DEFAULT false,
        invocation_error text,
        metadata jsonb,
        created_at timestamptz NOT NULL
      );
      CREATE INDEX idx_aibridge_tool_usages_interception_id ON aibridge_tool_usages (interception_id);
      CREATE INDEX idx_aibridge_tool_usages_provider_response_id ON aibridge_tool_usages (provider_response_id);
      CREATE INDEX idx_aibridge_tool_usages_provider_tool_call_id ON aibridge_tool_usages (provider_tool_call_id);

      -- Deviation from the reference (which has no id and no primary key here): every record on
      -- our bus carries its own uuid, so thoughts are deduplicated by id like the other records.
      CREATE TABLE aibridge_model_thoughts (
        id uuid PRIMARY KEY,
        interception_id uuid NOT NULL,
        content text NOT NULL,
        metadata jsonb,
        created_at timestamptz NOT NULL
      );
      CREATE INDEX idx_aibridge_model_thoughts_interception_id ON aibridge_model_thoughts (interception_id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE aibridge_model_thoughts, aibridge_tool_usages, aibridge_user_prompts,
        aibridge_token_usages, aibridge_interceptions;
      DROP TYPE credential_kind;
    `);
  }
}
