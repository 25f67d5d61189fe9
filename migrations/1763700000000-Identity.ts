import { MigrationInterface, QueryRunner } from 'typeorm';

// Identity: users, organizations and membership, groups, API keys and sessions, config
// key/value tables, telemetry items, the transactional outbox and the dbcrypt key table.
// Names and types follow the reference system's schema.
export class Identity1763700000000 implements MigrationInterface {
  name = 'Identity1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TYPE user_status AS ENUM ('active', 'suspended', 'dormant');
      CREATE TYPE login_type AS ENUM ('password', 'github', 'oidc', 'token', 'none');
      CREATE TYPE api_key_scope AS ENUM (
        'all', 'application_connect',
        'coder:all', 'coder:application_connect',
        'chat:create', 'chat:read', 'chat:update', 'chat:delete', 'chat:*'
      );

      CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL,
        username text NOT NULL,
        name text NOT NULL DEFAULT '',
        avatar_url text NOT NULL DEFAULT '',
        hashed_password bytea NOT NULL DEFAULT ''::bytea,
        status user_status NOT NULL DEFAULT 'dormant',
        login_type login_type NOT NULL DEFAULT 'password',
        rbac_roles text[] NOT NULL DEFAULT '{}',
        is_service_account boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00',
        deleted boolean NOT NULL DEFAULT false,
        CONSTRAINT users_username_format CHECK (username ~ '^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$' AND length(username) <= 32)
      );
      CREATE UNIQUE INDEX idx_users_email ON users (lower(email)) WHERE deleted = false;
      CREATE UNIQUE INDEX idx_users_username ON users (lower(username)) WHERE deleted = false;
      CREATE INDEX idx_users_created_at_id ON users (created_at, id) WHERE deleted = false;

      CREATE TABLE organizations (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        display_name text NOT NULL,
        description text NOT NULL DEFAULT '',
        icon text NOT NULL DEFAULT '',
        is_default boolean NOT NULL DEFAULT false,
        deleted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX idx_organization_name_lower ON organizations (lower(name)) WHERE deleted = false;
      CREATE UNIQUE INDEX organizations_single_default_org ON organizations (is_default) WHERE is_default = true;

      CREATE TABLE organization_members (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        roles text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (organization_id, user_id)
      );
      CREATE INDEX organization_members_user_id ON organization_members (user_id);

      CREATE TABLE groups (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        display_name text NOT NULL DEFAULT '',
        organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
        avatar_url text NOT NULL DEFAULT '',
        quota_allowance integer NOT NULL DEFAULT 0,
        source text NOT NULL DEFAULT 'user' CHECK (source IN ('user', 'oidc')),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, organization_id)
      );

      CREATE TABLE group_members (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX group_members_user_id ON group_members (user_id);

      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        hashed_secret bytea NOT NULL,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        last_used timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        login_type login_type NOT NULL,
        lifetime_seconds bigint NOT NULL DEFAULT 86400,
        ip_address inet,
        scopes api_key_scope[] NOT NULL DEFAULT '{coder:all}',
        token_name text NOT NULL DEFAULT '',
        allow_list text[] NOT NULL DEFAULT '{*:*}'
      );
      CREATE INDEX idx_api_keys_user ON api_keys (user_id);
      CREATE INDEX idx_api_keys_expires_at ON api_keys (expires_at);
      CREATE UNIQUE INDEX idx_api_key_name ON api_keys (user_id, token_name) WHERE login_type = 'token';

      CREATE TABLE site_configs (
        key varchar(256) PRIMARY KEY,
        value text NOT NULL
      );

      CREATE TABLE user_configs (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        key varchar(256) NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (user_id, key)
      );

      CREATE TABLE telemetry_items (
        key text PRIMARY KEY,
        value text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      -- Transactional outbox: rows are written in the transaction that changes the state
      -- they describe and relayed to JetStream after commit (Nats-Msg-Id = msg_id).
      -- subject is relative to the deployment's NATS_SUBJECT_PREFIX.
      CREATE TABLE event_outbox (
        id bigserial PRIMARY KEY,
        subject text NOT NULL,
        msg_id text NOT NULL,
        payload jsonb NOT NULL,
        headers jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        last_error text
      );

      CREATE TABLE dbcrypt_keys (
        number serial PRIMARY KEY,
        active_key_digest text UNIQUE,
        revoked_key_digest text UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        test text NOT NULL
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE dbcrypt_keys, event_outbox, telemetry_items, user_configs, site_configs,
        api_keys, group_members, groups, organization_members, organizations, users;
      DROP TYPE api_key_scope, login_type, user_status;
    `);
  }
}
