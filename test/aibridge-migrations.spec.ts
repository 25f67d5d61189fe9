import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDataSource, migrate, migrationStatus } from '@agentmesh/db';
import { dbUrl, useTestDatabase, withAdmin } from '@agentmesh/testing';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';

// The AI Bridge schema (1764000000000-AibridgeInterceptions) and its two data migrations
// (provider_name, cache token columns), each backfill checked on fixtures in a database
// migrated up to just before it.

const INTERCEPTIONS = 'AibridgeInterceptions1764000000000';
const PROVIDER_NAME = 'AibridgeProviderName1764000000001';
const CACHE_TOKENS = 'AibridgeCacheTokens1764000000002';
const TABLES = [
  'aibridge_interceptions',
  'aibridge_model_thoughts',
  'aibridge_token_usages',
  'aibridge_tool_usages',
  'aibridge_user_prompts',
];

function position(name: string): number {
  const at = ALL_MIGRATIONS.findIndex((m) => m.name === name);
  if (at < 0) throw new Error(`${name} is not registered in migrations/index.ts`);
  return at;
}

/** Applies the pending migrations among the first `count`; returns the names applied. */
async function migrateFirst(url: string, count: number): Promise<string[]> {
  const ds = createDataSource({
    url,
    poolSize: 2,
    applicationName: 'aibridge-mig-test',
    migrations: ALL_MIGRATIONS.slice(0, count),
  });
  await ds.initialize();
  try {
    return await migrate(ds);
  } finally {
    await ds.destroy();
  }
}

/** Migrates the database up to just before `name`. */
const migrateBefore = (url: string, name: string) => migrateFirst(url, position(name));
/** Applies `name` (the database is just before it); returns the names applied. */
const migrateThrough = (url: string, name: string) => migrateFirst(url, position(name) + 1);

/** Undoes applied migrations from the newest until `name` is undone. */
async function undoThrough(url: string, name: string): Promise<void> {
  const ds = createDataSource({
    url,
    poolSize: 2,
    applicationName: 'aibridge-mig-test',
    migrations: ALL_MIGRATIONS,
  });
  await ds.initialize();
  try {
    while ((await migrationStatus(ds)).applied.includes(name)) {
      await ds.undoLastMigration({ transaction: 'each' });
    }
  } finally {
    await ds.destroy();
  }
}

/** An empty database of its own for a suite (dropped after it, and by the run's teardown). */
function useEmptyDatabase(tag: string): { url: () => string; client: () => Client } {
  const name = `am_test_${process.env.AGENTMESH_TEST_RUN}_aibridge_${tag}_${process.pid}`;
  let c: Client | undefined;
  beforeAll(async () => {
    await withAdmin((a) => a.query(`CREATE DATABASE "${name}"`));
    c = new Client({ connectionString: dbUrl(name) });
    await c.connect();
  });
  afterAll(async () => {
    await c?.end();
    await withAdmin((a) => a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });
  return {
    url: () => dbUrl(name),
    client: () => {
      if (!c) throw new Error('database not ready');
      return c;
    },
  };
}

interface Interception {
  id?: string;
  provider?: string;
  endedAt?: Date | null;
  clientSessionId?: string | null;
  threadRootId?: string | null;
}

/** Inserts an interception with the columns every schema version has; returns its id. */
async function insertInterception(c: Client, i: Interception = {}): Promise<string> {
  const id = i.id ?? randomUUID();
  await c.query(
    `INSERT INTO aibridge_interceptions
       (id, initiator_id, provider, model, started_at, ended_at, metadata, client_session_id,
        thread_root_id, thread_parent_id)
     VALUES ($1, $2, $3, 'claude-sonnet-4', now() - interval '1 minute', $4, '{}', $5, $6, $6)`,
    [
      id,
      randomUUID(),
      i.provider ?? 'anthropic',
      i.endedAt === undefined ? new Date() : i.endedAt,
      i.clientSessionId ?? null,
      i.threadRootId ?? null,
    ],
  );
  return id;
}

/** Columns (with type, nullability, default, generation), indexes and the enum, as text. */
async function aibridgeSchema(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ line: string }>(
    `SELECT format('column %s.%s %s%s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                   CASE WHEN a.attgenerated = 's' THEN ' generated ' ELSE ' default ' END,
                   pg_get_expr(d.adbin, d.adrelid)) AS line
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
     UNION ALL
     SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
       FROM pg_constraint WHERE conrelid::regclass::text = ANY($1)
     UNION ALL
     SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1)
     UNION ALL
     SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typname = 'credential_kind'
      GROUP BY t.typname
     ORDER BY 1`,
    [TABLES],
  );
  return rows.map((r) => r.line);
}

describe('AibridgeProviderName backfills provider_name from provider', () => {
  const db = useEmptyDatabase('pn');

  it('sets every existing interception to its provider and new ones default to empty', async () => {
    const c = db.client();
    await migrateBefore(db.url(), PROVIDER_NAME);
    const fixtures = [
      { provider: 'openai' },
      { provider: 'anthropic' },
      { provider: 'copilot' },
      { provider: 'copilot', endedAt: null }, // still in flight
      { provider: 'openai', clientSessionId: 'codex-session', threadRootId: randomUUID() },
      { provider: '' },
    ];
    const ids = [];
    for (const f of fixtures) ids.push(await insertInterception(c, f));

    expect(await migrateThrough(db.url(), PROVIDER_NAME)).toEqual([PROVIDER_NAME]);

    const { rows } = await c.query(
      `SELECT id, provider, provider_name FROM aibridge_interceptions WHERE id = ANY($1)`,
      [ids],
    );
    expect(rows).toHaveLength(fixtures.length);
    for (const r of rows) expect(r.provider_name).toBe(r.provider);

    const fresh = await insertInterception(c, { provider: 'copilot' });
    const {
      rows: [row],
    } = await c.query(`SELECT provider_name FROM aibridge_interceptions WHERE id = $1`, [fresh]);
    expect(row.provider_name).toBe('');
    const failure = await c
      .query(`UPDATE aibridge_interceptions SET provider_name = NULL WHERE id = $1`, [fresh])
      .catch((e: { code?: string }) => e);
    expect(failure).toMatchObject({ code: '23502' });
  });
});

describe('AibridgeCacheTokens backfills the cache token columns from metadata', () => {
  const db = useEmptyDatabase('ct');

  // [case, metadata as JSON text (null: SQL NULL), expected cache read, expected cache write]
  const CASES: [string, string | null, string, string][] = [
    ['anthropic read only', '{"cache_read_input": 120, "input": 5}', '120', '0'],
    ['anthropic read and write', '{"cache_read_input": 5, "cache_creation_input": 900}', '5', '900'],
    ['write only', '{"cache_creation_input": 42}', '0', '42'],
    ['openai responses', '{"input_cached": 64, "output_reasoning": 10}', '64', '0'],
    ['openai chat', '{"prompt_cached": 7, "completion_reasoning": 3}', '7', '0'],
    [
      'several read keys: the largest wins',
      '{"cache_read_input": 10, "input_cached": 30, "prompt_cached": 20}',
      '30',
      '0',
    ],
    ['a zero beside a value', '{"cache_read_input": 0, "prompt_cached": 4}', '4', '0'],
    ['zeros', '{"input_cached": 0, "cache_creation_input": 0}', '0', '0'],
    ['non-numeric string beside a number', '{"cache_read_input": "abc", "input_cached": 12}', '12', '0'],
    ['non-numeric strings only', '{"prompt_cached": "n/a", "cache_creation_input": "lots"}', '0', '0'],
    ['numeric strings', '{"input_cached": "15", "cache_creation_input": " 8 "}', '15', '8'],
    ['fractions round to the nearest', '{"input_cached": 12.4, "cache_creation_input": 2.5}', '12', '3'],
    ['a float beside an integer', '{"cache_read_input": 7.9, "prompt_cached": 7}', '8', '0'],
    ['JSON number in exponent form', '{"prompt_cached": 1e3, "cache_creation_input": 2.5E1}', '1000', '25'],
    ['exponent strings are ignored', '{"prompt_cached": "1e3"}', '0', '0'],
    [
      'negative numbers are ignored',
      '{"input_cached": -5, "prompt_cached": 3, "cache_creation_input": -1}',
      '3',
      '0',
    ],
    ['the largest count that fits', '{"cache_read_input": 999999999999999999}', '999999999999999999', '0'],
    [
      'numbers too large for bigint are ignored',
      '{"cache_read_input": 1e30, "input_cached": 99999999999999999999, "cache_creation_input": 9223372036854775808}',
      '0',
      '0',
    ],
    [
      'booleans, objects, arrays and nulls are ignored',
      '{"cache_read_input": true, "input_cached": {"n": 1}, "prompt_cached": [3], "cache_creation_input": null}',
      '0',
      '0',
    ],
    ['no cache keys', '{"input": 100, "output": 20}', '0', '0'],
    ['empty object', '{}', '0', '0'],
    ['SQL NULL metadata', null, '0', '0'],
    ['JSON null metadata', 'null', '0', '0'],
    ['array metadata naming the keys', '["cache_read_input", "cache_creation_input"]', '0', '0'],
    ['string metadata naming a key', '"cache_read_input"', '0', '0'],
  ];

  it('reads the max of cache_read_input / input_cached / prompt_cached and cache_creation_input', async () => {
    const c = db.client();
    await migrateBefore(db.url(), CACHE_TOKENS);
    const interception = await insertInterception(c);
    const ids = new Map<string, string>();
    for (const [label, metadata] of CASES) {
      const id = randomUUID();
      ids.set(label, id);
      await c.query(
        `INSERT INTO aibridge_token_usages
           (id, interception_id, provider_response_id, input_tokens, output_tokens, metadata, created_at)
         VALUES ($1, $2, $3, 100, 20, $4::jsonb, now())`,
        [id, interception, `msg_${label}`, metadata],
      );
    }
    const versions = async () =>
      new Map(
        (await c.query(`SELECT id, xmin::text AS v FROM aibridge_token_usages`)).rows.map((r) => [r.id, r.v]),
      );
    const before = await versions();

    expect(await migrateThrough(db.url(), CACHE_TOKENS)).toEqual([CACHE_TOKENS]);

    const { rows } = await c.query(
      `SELECT id, input_tokens, output_tokens, metadata, cache_read_input_tokens, cache_write_input_tokens
         FROM aibridge_token_usages`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const after = await versions();
    for (const [label, metadata, read, write] of CASES) {
      const row = byId.get(ids.get(label) ?? '');
      expect({ label, read: row.cache_read_input_tokens, write: row.cache_write_input_tokens }).toEqual({
        label,
        read,
        write,
      });
      // Nothing else changes.
      expect(row).toMatchObject({
        input_tokens: '100',
        output_tokens: '20',
        metadata: metadata === null ? null : JSON.parse(metadata),
      });
    }
    // Rows without any of the keys are not rewritten.
    for (const label of ['no cache keys', 'empty object', 'SQL NULL metadata', 'JSON null metadata']) {
      const id = ids.get(label) ?? '';
      expect({ label, version: after.get(id) }).toEqual({ label, version: before.get(id) });
    }

    // New rows default to 0 and the columns reject NULL.
    const {
      rows: [fresh],
    } = await c.query(
      `INSERT INTO aibridge_token_usages
         (id, interception_id, provider_response_id, input_tokens, output_tokens, created_at)
       VALUES ($1, $2, 'msg_new', 1, 1, now())
       RETURNING cache_read_input_tokens, cache_write_input_tokens`,
      [randomUUID(), interception],
    );
    expect(fresh).toEqual({ cache_read_input_tokens: '0', cache_write_input_tokens: '0' });
  });
});

describe('AI Bridge migrations down and up', () => {
  const db = useEmptyDatabase('du');

  it('rolls each migration back and forward, keeping what the older schema can hold', async () => {
    const c = db.client();
    await migrateFirst(db.url(), ALL_MIGRATIONS.length);
    const schema = await aibridgeSchema(c);
    expect(schema.length).toBeGreaterThan(50);
    const columns = async (table: string) =>
      (
        await c.query(
          `SELECT column_name AS n FROM information_schema.columns WHERE table_name = $1 ORDER BY 1`,
          [table],
        )
      ).rows.map((r) => r.n);

    const interception = await insertInterception(c, { provider: 'copilot' });
    await c.query(`UPDATE aibridge_interceptions SET provider_name = 'copilot-business' WHERE id = $1`, [
      interception,
    ]);
    const usage = (metadata: string | null, read: number, write: number) =>
      c
        .query(
          `INSERT INTO aibridge_token_usages (id, interception_id, provider_response_id, input_tokens,
             output_tokens, metadata, created_at, cache_read_input_tokens, cache_write_input_tokens)
           VALUES ($1, $2, 'msg', 1, 1, $3::jsonb, now(), $4, $5) RETURNING id`,
          [randomUUID(), interception, metadata, read, write],
        )
        .then((r) => r.rows[0].id as string);
    // Recorded after the columns existed: the values are only in the columns.
    const onlyColumns = await usage('{"source": "x"}', 7, 3);
    const nullMetadata = await usage(null, 11, 0);
    // The metadata already yields the column values.
    const both = await usage('{"input_cached": 30}', 30, 0);
    const metadataOf = async (id: string) =>
      (await c.query(`SELECT metadata FROM aibridge_token_usages WHERE id = $1`, [id])).rows[0].metadata;

    // Down past the cache columns: the previous schema reads the values from metadata.
    await undoThrough(db.url(), CACHE_TOKENS);
    expect(await columns('aibridge_token_usages')).not.toContain('cache_read_input_tokens');
    expect(await metadataOf(onlyColumns)).toEqual({
      source: 'x',
      cache_read_input: 7,
      cache_creation_input: 3,
    });
    expect(await metadataOf(nullMetadata)).toEqual({ cache_read_input: 11 });
    expect(await metadataOf(both)).toEqual({ input_cached: 30 });

    // Down past provider_name: the instance name is lost; up names each row after its type.
    await undoThrough(db.url(), PROVIDER_NAME);
    expect(await columns('aibridge_interceptions')).not.toContain('provider_name');
    expect(await migrateThrough(db.url(), PROVIDER_NAME)).toEqual([PROVIDER_NAME]);
    expect(
      (await c.query(`SELECT provider_name FROM aibridge_interceptions WHERE id = $1`, [interception])).rows,
    ).toEqual([{ provider_name: 'copilot' }]);

    // Up again: the columns come back from the metadata down wrote.
    expect(await migrateThrough(db.url(), CACHE_TOKENS)).toEqual([CACHE_TOKENS]);
    const { rows } = await c.query(
      `SELECT id, cache_read_input_tokens AS r, cache_write_input_tokens AS w FROM aibridge_token_usages`,
    );
    expect(new Map(rows.map((x) => [x.id, [x.r, x.w]]))).toEqual(
      new Map([
        [onlyColumns, ['7', '3']],
        [nullMetadata, ['11', '0']],
        [both, ['30', '0']],
      ]),
    );

    // Down past the tables: nothing of AI Bridge is left; up rebuilds the same schema.
    await undoThrough(db.url(), INTERCEPTIONS);
    const leftovers = await c.query(
      `SELECT relname AS name FROM pg_class WHERE relname LIKE '%aibridge%'
       UNION ALL SELECT typname FROM pg_type WHERE typname LIKE '%aibridge%' OR typname = 'credential_kind'`,
    );
    expect(leftovers.rows).toEqual([]);
    await migrateFirst(db.url(), ALL_MIGRATIONS.length);
    expect(await aibridgeSchema(c)).toEqual(schema);
  });
});

describe('AI Bridge schema', () => {
  const db = useTestDatabase();
  let c: Client;
  beforeAll(async () => {
    c = new Client({ connectionString: db.url });
    await c.connect();
  });
  afterAll(() => c.end());

  it('has the expected columns, constraints and indexes', async () => {
    expect(await aibridgeSchema(c)).toEqual(
      [
        'column aibridge_interceptions.api_key_id text default ',
        "column aibridge_interceptions.client character varying(64) default 'Unknown'::character varying",
        'column aibridge_interceptions.client_session_id character varying(256) default ',
        "column aibridge_interceptions.credential_hint character varying(15) not null default ''::character varying",
        "column aibridge_interceptions.credential_kind credential_kind not null default 'centralized'::credential_kind",
        'column aibridge_interceptions.ended_at timestamp with time zone default ',
        'column aibridge_interceptions.id uuid not null default ',
        'column aibridge_interceptions.initiator_id uuid not null default ',
        'column aibridge_interceptions.metadata jsonb default ',
        'column aibridge_interceptions.model text not null default ',
        'column aibridge_interceptions.provider text not null default ',
        "column aibridge_interceptions.provider_name text not null default ''::text",
        'column aibridge_interceptions.session_id text not null generated COALESCE((client_session_id)::text, (thread_root_id)::text, (id)::text)',
        'column aibridge_interceptions.started_at timestamp with time zone not null default ',
        'column aibridge_interceptions.thread_parent_id uuid default ',
        'column aibridge_interceptions.thread_root_id uuid default ',
        'column aibridge_model_thoughts.content text not null default ',
        'column aibridge_model_thoughts.created_at timestamp with time zone not null default ',
        'column aibridge_model_thoughts.id uuid not null default ',
        'column aibridge_model_thoughts.interception_id uuid not null default ',
        'column aibridge_model_thoughts.metadata jsonb default ',
        'column aibridge_token_usages.cache_read_input_tokens bigint not null default 0',
        'column aibridge_token_usages.cache_write_input_tokens bigint not null default 0',
        'column aibridge_token_usages.created_at timestamp with time zone not null default ',
        'column aibridge_token_usages.id uuid not null default ',
        'column aibridge_token_usages.input_tokens bigint not null default ',
        'column aibridge_token_usages.interception_id uuid not null default ',
        'column aibridge_token_usages.metadata jsonb default ',
        'column aibridge_token_usages.output_tokens bigint not null default ',
        'column aibridge_token_usages.provider_response_id text not null default ',
        'column aibridge_tool_usages.created_at timestamp with time zone not null default ',
        'column aibridge_tool_usages.id uuid not null default ',
        'column aibridge_tool_usages.injected boolean not null default false',
        'column aibridge_tool_usages.input text not null default ',
        'column aibridge_tool_usages.interception_id uuid not null default ',
        'column aibridge_tool_usages.invocation_error text default ',
        'column aibridge_tool_usages.metadata jsonb default ',
        'column aibridge_tool_usages.provider_item_id text default ',
        'column aibridge_tool_usages.provider_response_id text not null default ',
        'column aibridge_tool_usages.provider_tool_call_id text default ',
        'column aibridge_tool_usages.server_url text default ',
        'column aibridge_tool_usages.tool text not null default ',
        'column aibridge_user_prompts.created_at timestamp with time zone not null default ',
        'column aibridge_user_prompts.id uuid not null default ',
        'column aibridge_user_prompts.interception_id uuid not null default ',
        'column aibridge_user_prompts.metadata jsonb default ',
        'column aibridge_user_prompts.prompt text not null default ',
        'column aibridge_user_prompts.provider_response_id text not null default ',
        // Primary keys only: no foreign keys, on purpose.
        'constraint aibridge_interceptions PRIMARY KEY (id)',
        'constraint aibridge_model_thoughts PRIMARY KEY (id)',
        'constraint aibridge_token_usages PRIMARY KEY (id)',
        'constraint aibridge_tool_usages PRIMARY KEY (id)',
        'constraint aibridge_user_prompts PRIMARY KEY (id)',
        'enum credential_kind centralized,byok',
        ...[
          'aibridge_interceptions_pkey ON public.aibridge_interceptions USING btree (id)',
          'aibridge_model_thoughts_pkey ON public.aibridge_model_thoughts USING btree (id)',
          'aibridge_token_usages_pkey ON public.aibridge_token_usages USING btree (id)',
          'aibridge_tool_usages_pkey ON public.aibridge_tool_usages USING btree (id)',
          'aibridge_user_prompts_pkey ON public.aibridge_user_prompts USING btree (id)',
        ].map((i) => `CREATE UNIQUE INDEX ${i}`),
        ...[
          'idx_aibridge_interceptions_client ON public.aibridge_interceptions USING btree (client)',
          'idx_aibridge_interceptions_client_session_id ON public.aibridge_interceptions USING btree (client_session_id) WHERE (client_session_id IS NOT NULL)',
          'idx_aibridge_interceptions_initiator_id ON public.aibridge_interceptions USING btree (initiator_id)',
          'idx_aibridge_interceptions_initiator_started ON public.aibridge_interceptions USING btree (initiator_id, started_at DESC, id DESC) WHERE (ended_at IS NOT NULL)',
          'idx_aibridge_interceptions_model ON public.aibridge_interceptions USING btree (model)',
          'idx_aibridge_interceptions_provider ON public.aibridge_interceptions USING btree (provider)',
          'idx_aibridge_interceptions_provider_name ON public.aibridge_interceptions USING btree (provider_name)',
          'idx_aibridge_interceptions_session_id ON public.aibridge_interceptions USING btree (session_id, initiator_id, started_at) INCLUDE (ended_at, thread_root_id) WHERE (ended_at IS NOT NULL)',
          'idx_aibridge_interceptions_started_id_desc ON public.aibridge_interceptions USING btree (started_at DESC, id DESC)',
          'idx_aibridge_interceptions_thread_parent_id ON public.aibridge_interceptions USING btree (thread_parent_id)',
          'idx_aibridge_interceptions_thread_root_id ON public.aibridge_interceptions USING btree (thread_root_id)',
          'idx_aibridge_model_thoughts_interception_id ON public.aibridge_model_thoughts USING btree (interception_id)',
          'idx_aibridge_token_usages_interception_id ON public.aibridge_token_usages USING btree (interception_id)',
          'idx_aibridge_token_usages_provider_response_id ON public.aibridge_token_usages USING btree (provider_response_id)',
          'idx_aibridge_tool_usages_interception_id ON public.aibridge_tool_usages USING btree (interception_id)',
          'idx_aibridge_tool_usages_provider_response_id ON public.aibridge_tool_usages USING btree (provider_response_id)',
          'idx_aibridge_tool_usages_provider_tool_call_id ON public.aibridge_tool_usages USING btree (provider_tool_call_id)',
          'idx_aibridge_user_prompts_interception_created ON public.aibridge_user_prompts USING btree (interception_id, created_at DESC, id DESC)',
          'idx_aibridge_user_prompts_provider_response_id ON public.aibridge_user_prompts USING btree (provider_response_id)',
        ].map((i) => `CREATE INDEX ${i}`),
      ].sort(),
    );
  });

  it('derives session_id from the client session id, else the thread root, else the interception', async () => {
    const root = await insertInterception(c);
    const child = await insertInterception(c, { threadRootId: root });
    const withClient = await insertInterception(c, { clientSessionId: 'claude-abc', threadRootId: root });
    const session = async (id: string) =>
      (await c.query(`SELECT session_id FROM aibridge_interceptions WHERE id = $1`, [id])).rows[0].session_id;
    expect(await session(root)).toBe(root);
    expect(await session(child)).toBe(root);
    expect(await session(withClient)).toBe('claude-abc');
    // It follows later changes and cannot be written.
    await c.query(`UPDATE aibridge_interceptions SET client_session_id = NULL WHERE id = $1`, [withClient]);
    expect(await session(withClient)).toBe(root);
    const failure = await c
      .query(`UPDATE aibridge_interceptions SET session_id = 'x' WHERE id = $1`, [root])
      .catch((e: { code?: string }) => e);
    expect(failure).toMatchObject({ code: '428C9' });
    expect(
      (
        await c.query(
          `SELECT client, credential_kind, credential_hint, provider_name FROM aibridge_interceptions WHERE id = $1`,
          [root],
        )
      ).rows[0],
    ).toEqual({ client: 'Unknown', credential_kind: 'centralized', credential_hint: '', provider_name: '' });
  });

  it('keys model thoughts by id so a redelivered record is written once (deviation from the reference)', async () => {
    const interception = await insertInterception(c);
    const id = randomUUID();
    const insert = `INSERT INTO aibridge_model_thoughts (id, interception_id, content, metadata, created_at)
                    VALUES ($1, $2, 'thinking…', '{"source": "thinking"}', now())`;
    await c.query(insert, [id, interception]);
    expect(await c.query(`${insert} ON CONFLICT (id) DO NOTHING`, [id, interception])).toMatchObject({
      rowCount: 0,
    });
    expect(await c.query(insert, [id, interception]).catch((e: { code?: string }) => e)).toMatchObject({
      code: '23505',
    });
  });

  it('serves the sessions page from an index-only scan in group order (EXPLAIN)', async () => {
    // 30,000 completed interceptions in 6,000 sessions of 10 users.
    await c.query(
      `INSERT INTO aibridge_interceptions (id, initiator_id, provider, provider_name, model, started_at,
         ended_at, metadata, client_session_id)
       SELECT gen_random_uuid(), md5('user' || (g % 10))::uuid, 'anthropic', 'anthropic', 'claude',
              t, t + interval '5 seconds', '{"request_user_agent": "claude-cli/2.0"}',
              'session-' || (g % 6000)
         FROM generate_series(1, 30000) g,
              LATERAL (SELECT timestamptz '2026-01-01' + g * interval '1 minute' AS t) s`,
    );
    await c.query('VACUUM ANALYZE aibridge_interceptions');
    const plan = async (sql: string, settings = '') => {
      await c.query('BEGIN');
      try {
        if (settings) await c.query(settings);
        const { rows } = await c.query(`EXPLAIN (FORMAT JSON) ${sql}`);
        return JSON.stringify(rows[0]['QUERY PLAN']);
      } finally {
        await c.query('ROLLBACK');
      }
    };
    // Page: every group is aggregated, streaming from the index in (session_id, initiator_id)
    // order; only the top-N sort of the groups remains. At this size hashing the groups fits in
    // work_mem and is cheapest; at 2M interceptions it spills, so hashing is turned off here to
    // see the path the planner takes at scale.
    const page = await plan(
      `SELECT session_id, initiator_id, MIN(started_at), MAX(ended_at),
              COUNT(*) FILTER (WHERE thread_root_id IS NULL)
         FROM aibridge_interceptions
        WHERE ended_at IS NOT NULL
        GROUP BY session_id, initiator_id
        ORDER BY MIN(started_at) DESC, session_id DESC, initiator_id DESC
        LIMIT 25`,
      'SET LOCAL enable_hashagg = off',
    );
    expect(page).toContain(
      '"Node Type":"Index Only Scan","Parent Relationship":"Outer","Parallel Aware":false',
    );
    expect(page).toContain('"Index Name":"idx_aibridge_interceptions_session_id"');
    expect(page).toMatch(/"Strategy":"Sorted"/);
    expect(page).not.toContain('Incremental Sort');
    // The first interception of each session, found with an anti-join probing the same index.
    const first = await plan(
      `SELECT i.session_id, i.initiator_id FROM aibridge_interceptions i
        WHERE i.ended_at IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM aibridge_interceptions e
           WHERE e.ended_at IS NOT NULL AND e.session_id = i.session_id
             AND e.initiator_id = i.initiator_id AND e.started_at < i.started_at)
        ORDER BY i.started_at DESC, i.id DESC LIMIT 25`,
    );
    expect(first).toContain('"Index Name":"idx_aibridge_interceptions_session_id"');
    expect(first).toContain('"Index Name":"idx_aibridge_interceptions_started_id_desc"');
  });
});
