import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDataSource, migrate, migrationStatus } from '@agentmesh/db';
import { dbUrl, useTestDatabase, withAdmin } from '@agentmesh/testing';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';

const CHAT_TABLES = [
  'chat_messages',
  'chat_model_configs',
  'chat_providers',
  'chat_queued_messages',
  'chats',
  'user_chat_provider_keys',
];
const CHAT_ENUMS = [
  'chat_client_type',
  'chat_message_role',
  'chat_message_visibility',
  'chat_mode',
  'chat_plan_mode',
  'chat_status',
];

/** Columns, constraints, indexes and enum labels of the chat schema, as text. */
async function chatSchema(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ line: string }>(
    `SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default) AS line
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1)
     UNION ALL
     SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
       FROM pg_constraint WHERE conrelid::regclass::text = ANY($1)
     UNION ALL
     SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1)
     UNION ALL
     SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typname = ANY($2) GROUP BY t.typname
     ORDER BY 1`,
    [CHAT_TABLES, CHAT_ENUMS],
  );
  return rows.map((r) => r.line);
}

describe('Chats migration', () => {
  const name = `am_test_${process.env.AGENTMESH_TEST_RUN}_chats_${process.pid}`;
  beforeAll(() => withAdmin((c) => c.query(`CREATE DATABASE "${name}"`)));
  afterAll(() => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));

  it('rolls back to the identity schema, keeping its data, and re-applies identically', async () => {
    // Undo the Chats migration and any that came after it.
    const chatsAt = ALL_MIGRATIONS.findIndex((m) => m.name === 'Chats1763800000000');
    expect(chatsAt).toBeGreaterThan(0);
    const undo = ALL_MIGRATIONS.slice(chatsAt).map((m) => m.name);
    const ds = createDataSource({
      url: dbUrl(name),
      poolSize: 2,
      applicationName: 'chats-mig-test',
      migrations: ALL_MIGRATIONS,
    });
    await ds.initialize();
    const c = new Client({ connectionString: dbUrl(name) });
    await c.connect();
    try {
      await migrate(ds);
      const tables = async () =>
        (
          await c.query<{ t: string }>(
            `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'agentmesh_migrations' ORDER BY 1`,
          )
        ).rows.map((r) => r.t);
      const all = await tables();
      expect(all).toEqual(expect.arrayContaining(CHAT_TABLES));
      const before = await chatSchema(c);
      expect(before.length).toBeGreaterThan(100);

      // Some data, so the down migration is exercised on a populated schema.
      const user = randomUUID();
      const org = randomUUID();
      await c.query(`INSERT INTO users (id, email, username) VALUES ($1, 'a@example.com', 'a')`, [user]);
      await c.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'o', 'O')`, [org]);
      await c.query(`INSERT INTO chat_providers (provider, api_key) VALUES ('openai', 'k')`);
      const {
        rows: [{ id: config }],
      } = await c.query(
        `INSERT INTO chat_model_configs (provider, model, context_limit) VALUES ('openai', 'm', 1000) RETURNING id`,
      );
      const {
        rows: [{ id: chat }],
      } = await c.query(
        `INSERT INTO chats (owner_id, organization_id, last_model_config_id) VALUES ($1, $2, $3) RETURNING id`,
        [user, org, config],
      );
      await c.query(
        `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, 'user', '[]', 1)`,
        [chat],
      );
      await c.query(`INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, '[]')`, [chat]);

      for (let i = 0; i < undo.length; i++) await ds.undoLastMigration({ transaction: 'each' });
      expect((await migrationStatus(ds)).pending).toEqual(undo);
      const remaining = await tables();
      expect(remaining).toEqual(
        expect.arrayContaining(['users', 'organizations', 'dbcrypt_keys', 'event_outbox']),
      );
      expect(remaining.filter((t) => CHAT_TABLES.includes(t))).toEqual([]);
      const leftovers = await c.query(
        `SELECT relname FROM pg_class WHERE relname LIKE '%chat%'
         UNION ALL SELECT typname FROM pg_type WHERE typname LIKE '%chat%'`,
      );
      expect(leftovers.rows).toEqual([]);
      // The identity schema and its data are untouched.
      expect((await c.query(`SELECT id FROM users`)).rows).toEqual([{ id: user }]);

      await migrate(ds);
      expect(await chatSchema(c)).toEqual(before);
    } finally {
      await c.end();
      await ds.destroy();
    }
  });
});

describe('chat schema constraints', () => {
  const db = useTestDatabase();
  let c: Client;
  let user: string;
  let org: string;
  let config: string;

  beforeAll(async () => {
    c = new Client({ connectionString: db.url });
    await c.connect();
    user = randomUUID();
    org = randomUUID();
    await c.query(`INSERT INTO users (id, email, username) VALUES ($1, 'u@example.com', 'u')`, [user]);
    await c.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'coder', 'Coder')`, [org]);
    ({
      rows: [{ id: config }],
    } = await c.query(
      `INSERT INTO chat_model_configs (provider, model, context_limit) VALUES ('openai', 'base', 1000) RETURNING id`,
    ));
  });
  afterAll(() => c.end());

  /** Runs a statement that must fail inside a transaction that is rolled back; returns its error. */
  async function failure(
    sql: string,
    params: unknown[] = [],
  ): Promise<{ code?: string; constraint?: string }> {
    await c.query('BEGIN');
    try {
      await c.query(sql, params);
    } catch (e) {
      return e as { code?: string; constraint?: string };
    } finally {
      await c.query('ROLLBACK');
    }
    throw new Error(`statement succeeded: ${sql}`);
  }

  const provider = (cols: string, values: string) =>
    `INSERT INTO chat_providers (${cols}) VALUES (${values})`;

  describe('chat_providers', () => {
    it('rejects an unknown provider and a duplicate one', async () => {
      expect(await failure(provider('provider', `'acme'`))).toMatchObject({
        code: '23514',
        constraint: 'chat_providers_provider_check',
      });
      await c.query(provider('provider', `'google'`));
      expect(await failure(provider('provider', `'google'`))).toMatchObject({
        code: '23505',
        constraint: 'chat_providers_provider_key',
      });
    });

    it('enforces valid_credential_policy', async () => {
      const cols = 'provider, central_api_key_enabled, allow_user_api_key, allow_central_api_key_fallback';
      for (const bad of ['false, false, false', 'true, false, true', 'false, true, true']) {
        expect(await failure(provider(cols, `'vercel', ${bad}`))).toMatchObject({
          code: '23514',
          constraint: 'valid_credential_policy',
        });
      }
      for (const [p, ok] of [
        ['openrouter', 'true, false, false'],
        ['bedrock', 'false, true, false'],
        ['azure', 'true, true, true'],
      ]) {
        await c.query(provider(cols, `'${p}', ${ok}`));
      }
    });

    it('has the reference defaults and an api_key_key_id that must name a registered key', async () => {
      const {
        rows: [row],
      } = await c.query(`INSERT INTO chat_providers (provider) VALUES ('anthropic') RETURNING *`);
      expect(row).toMatchObject({
        display_name: '',
        api_key: '',
        api_key_key_id: null,
        enabled: true,
        base_url: '',
        central_api_key_enabled: true,
        allow_user_api_key: false,
        allow_central_api_key_fallback: false,
      });
      expect(
        await failure(`UPDATE chat_providers SET api_key_key_id = 'nope' WHERE id = $1`, [row.id]),
      ).toMatchObject({
        code: '23503',
      });
      await c.query(`INSERT INTO dbcrypt_keys (active_key_digest, test) VALUES ('digest-1', 'x')`);
      await c.query(
        `UPDATE chat_providers SET api_key = 'sealed', api_key_key_id = 'digest-1' WHERE id = $1`,
        [row.id],
      );
    });
  });

  describe('user_chat_provider_keys', () => {
    it('needs a non-empty key, one per user and provider, and goes with its provider', async () => {
      const {
        rows: [{ id: p }],
      } = await c.query(
        `INSERT INTO chat_providers (provider, allow_user_api_key) VALUES ('openai-compat', true) RETURNING id`,
      );
      const ins = `INSERT INTO user_chat_provider_keys (user_id, chat_provider_id, api_key) VALUES ($1, $2, $3)`;
      expect(await failure(ins, [user, p, ''])).toMatchObject({
        code: '23514',
        constraint: 'user_chat_provider_keys_api_key_check',
      });
      await c.query(ins, [user, p, 'mine']);
      expect(await failure(ins, [user, p, 'again'])).toMatchObject({ code: '23505' });
      expect(
        await failure(
          `INSERT INTO user_chat_provider_keys (user_id, chat_provider_id, api_key, api_key_key_id) VALUES ($1, $2, 'k', 'nope')`,
          [randomUUID(), p],
        ),
      ).toMatchObject({ code: '23503' });
      await c.query(`DELETE FROM chat_providers WHERE id = $1`, [p]);
      expect(
        (await c.query(`SELECT 1 FROM user_chat_provider_keys WHERE chat_provider_id = $1`, [p])).rows,
      ).toEqual([]);
    });
  });

  describe('chat_model_configs', () => {
    const ins = (cols: string, values: string) =>
      `INSERT INTO chat_model_configs (provider, model, ${cols}) VALUES ('openai', 'x', ${values})`;

    it('rejects a bad provider, context_limit <= 0, compression_threshold outside 0..100, non-object options', async () => {
      expect(
        await failure(
          `INSERT INTO chat_model_configs (provider, model, context_limit) VALUES ('acme', 'x', 10)`,
        ),
      ).toMatchObject({ code: '23514', constraint: 'chat_model_configs_provider_check' });
      for (const limit of ['0', '-1']) {
        expect(await failure(ins('context_limit', limit))).toMatchObject({
          code: '23514',
          constraint: 'chat_model_configs_context_limit_check',
        });
      }
      for (const t of ['-1', '101']) {
        expect(await failure(ins('context_limit, compression_threshold', `10, ${t}`))).toMatchObject({
          code: '23514',
          constraint: 'chat_model_configs_compression_threshold_check',
        });
      }
      expect(await failure(ins('context_limit, options', `10, '[]'`))).toMatchObject({
        code: '23514',
        constraint: 'chat_model_configs_options_is_object',
      });
      expect(await failure(ins('context_limit', 'NULL'))).toMatchObject({ code: '23502' });
      for (const t of ['0', '100']) await c.query(ins('context_limit, compression_threshold', `10, ${t}`));
      const {
        rows: [row],
      } = await c.query(`${ins('context_limit', '10')} RETURNING *`);
      expect(row).toMatchObject({
        compression_threshold: 70,
        options: {},
        enabled: true,
        is_default: false,
        deleted: false,
        deleted_at: null,
        display_name: '',
      });
    });

    it('allows one default among live configs', async () => {
      await c.query(`UPDATE chat_model_configs SET is_default = false`);
      const {
        rows: [{ id: first }],
      } = await c.query(`${ins('context_limit, is_default', '10, true')} RETURNING id`);
      expect(await failure(ins('context_limit, is_default', '10, true'))).toMatchObject({
        code: '23505',
        constraint: 'idx_chat_model_configs_single_default',
      });
      // A soft-deleted default no longer counts.
      await c.query(`UPDATE chat_model_configs SET deleted = true, deleted_at = now() WHERE id = $1`, [
        first,
      ]);
      await c.query(ins('context_limit, is_default', '10, true'));
      expect(
        (await c.query(`SELECT count(*)::int AS n FROM chat_model_configs WHERE is_default AND NOT deleted`))
          .rows[0].n,
      ).toBe(1);
    });
  });

  describe('chats and messages', () => {
    const newChat = async (extra = '', values = ''): Promise<Record<string, unknown>> =>
      (
        await c.query(
          `INSERT INTO chats (owner_id, organization_id, last_model_config_id${extra}) VALUES ($1, $2, $3${values}) RETURNING *`,
          [user, org, config],
        )
      ).rows[0];

    it('has the reference defaults; workspace ids are plain columns', async () => {
      const chat = await newChat(
        ', workspace_id, build_id, agent_id',
        `, '${randomUUID()}', '${randomUUID()}', '${randomUUID()}'`,
      );
      expect(chat).toMatchObject({
        title: 'New Chat',
        status: 'waiting',
        worker_id: null,
        archived: false,
        mode: null,
        plan_mode: null,
        mcp_server_ids: [],
        labels: {},
        pin_order: 0,
        client_type: 'api',
        last_error: null,
      });
    });

    it('rejects bad enum values, non-object labels, a negative pin order and an unknown model config', async () => {
      const { id } = await newChat();
      const update = (set: string, params: unknown[] = []) =>
        failure(`UPDATE chats SET ${set} WHERE id = $1`, [id, ...params]);
      expect(await update(`status = 'interrupting'`)).toMatchObject({ code: '22P02' });
      expect(await update(`client_type = 'cli'`)).toMatchObject({ code: '22P02' });
      expect(await update(`labels = '["a"]'`)).toMatchObject({
        code: '23514',
        constraint: 'chats_labels_is_object',
      });
      expect(await update(`pin_order = -1`)).toMatchObject({
        code: '23514',
        constraint: 'chats_pin_order_check',
      });
      expect(await update(`last_model_config_id = $2`, [randomUUID()])).toMatchObject({ code: '23503' });
      const message = (role: string, content: string) =>
        failure(
          `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, '${role}', '${content}', 1)`,
          [id],
        );
      expect(await message('user', '{}')).toMatchObject({
        code: '23514',
        constraint: 'chat_messages_content_is_array',
      });
      expect(await message('robot', '[]')).toMatchObject({ code: '22P02' });
    });

    it('cascades a chat deletion to its messages and queue; a child keeps living without its parent', async () => {
      const parent = await newChat();
      const child = await newChat(', parent_chat_id, root_chat_id', `, '${parent.id}', '${parent.id}'`);
      await c.query(
        `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, 'user', '[]', 1)`,
        [parent.id],
      );
      await c.query(
        `INSERT INTO chat_queued_messages (chat_id, content, model_config_id) VALUES ($1, '[]', $2)`,
        [parent.id, config],
      );
      await c.query(`DELETE FROM chats WHERE id = $1`, [parent.id]);
      expect((await c.query(`SELECT 1 FROM chat_messages WHERE chat_id = $1`, [parent.id])).rows).toEqual([]);
      expect(
        (await c.query(`SELECT 1 FROM chat_queued_messages WHERE chat_id = $1`, [parent.id])).rows,
      ).toEqual([]);
      const {
        rows: [row],
      } = await c.query(`SELECT parent_chat_id, root_chat_id FROM chats WHERE id = $1`, [child.id]);
      expect(row).toEqual({ parent_chat_id: null, root_chat_id: null });
    });

    it('reads idx_chats_pending_since in order for the acquire statement, also with stale statistics (EXPLAIN)', async () => {
      await c.query(
        `INSERT INTO chats (owner_id, organization_id, last_model_config_id, status, updated_at)
         SELECT $1, $2, $3, 'waiting', now() - g * interval '1 second' FROM generate_series(1, 20000) g`,
        [user, org, config],
      );
      const plan = async (sql: string) => {
        const { rows } = await c.query(`EXPLAIN (FORMAT JSON) ${sql}`);
        return JSON.stringify(rows[0]['QUERY PLAN']);
      };
      const acquire = `SELECT id FROM chats
        WHERE pending_since IS NOT NULL AND status = 'pending' AND NOT archived
        ORDER BY pending_since LIMIT 10 FOR UPDATE SKIP LOCKED`;
      // Statistics taken before the chats became pending (a burst autovacuum has not analyzed
      // yet), then fresh ones: the ordered index scan either way, no sort of the pending set.
      await c.query('ANALYZE chats');
      const made = (
        await c.query(
          `UPDATE chats SET status = 'pending'
            WHERE id IN (SELECT id FROM chats WHERE status = 'waiting' ORDER BY updated_at LIMIT 2000)
            RETURNING id`,
        )
      ).rows.map((r) => r.id);
      for (const analyze of [false, true]) {
        if (analyze) await c.query('ANALYZE chats');
        const p = await plan(acquire);
        expect(p).toContain('"Index Name":"idx_chats_pending_since"');
        expect(p).not.toContain('"Node Type":"Sort"');
      }
      // pending_since is updated_at of exactly the pending, unarchived chats.
      const consistent = async () =>
        (
          await c.query(
            `SELECT count(*) FILTER (WHERE pending_since IS DISTINCT FROM
                      CASE WHEN status = 'pending' AND NOT archived THEN updated_at END)::int AS wrong,
                    count(*) FILTER (WHERE pending_since IS NOT NULL AND id = ANY($1))::int AS indexed
               FROM chats`,
            [made],
          )
        ).rows[0];
      expect(await consistent()).toEqual({ wrong: 0, indexed: 2000 });
      await c.query(`UPDATE chats SET archived = true WHERE id = ANY($1)`, [made]);
      expect(await consistent()).toEqual({ wrong: 0, indexed: 0 });
      expect(await plan(`SELECT id FROM chats WHERE labels @> '{"k":"v"}'`)).toContain(
        '"Index Name":"idx_chats_labels"',
      );
    });
  });
});
