// Writes validated AI Bridge records, one statement per kind, inside the caller's transaction.
// Every insert is `ON CONFLICT (id) DO NOTHING` and an end only fills a NULL `ended_at`, so a
// record that arrives twice (redelivery, a duplicate publish past the stream's window, the
// same record alone and in a batch) changes nothing the second time.
//
// Order inside the transaction: usages first (so an interception started in the same batch
// finds its parent's tool call for lineage), then interceptions (and the roots of threads
// whose parent started in the same batch), then ends (so an end that arrives with its start
// applies). An end whose interception does not exist yet is reported
// back: its message is retried later (records may arrive in any order).
import type { EntityManager } from 'typeorm';
import type {
  AibridgeInterceptionEnded,
  AibridgeInterceptionStarted,
  AibridgeModelThought,
  AibridgePromptUsage,
  AibridgeRecord,
  AibridgeToolUsage,
  AibridgeTokenUsage,
} from '@agentmesh/contracts';

export interface StoreResult {
  /** Ids of ends whose interception is not recorded yet. */
  unknownEnds: Set<string>;
  /** Rows actually inserted or updated, by kind (duplicates excluded). */
  written: Record<AibridgeRecord['kind'], number>;
}

type Grouped = { [K in AibridgeRecord['kind']]: Extract<AibridgeRecord, { kind: K }>[] };

function group(records: readonly AibridgeRecord[]): Grouped {
  const out: Grouped = {
    'interception.started': [],
    'interception.ended': [],
    'usage.token': [],
    'usage.prompt': [],
    'usage.tool': [],
    'usage.thought': [],
  };
  for (const r of records) (out[r.kind] as AibridgeRecord[]).push(r);
  return out;
}

/** Rows travel as one jsonb array and are expanded server-side (one parameter per statement). */
const rowsParam = (rows: readonly object[]) => JSON.stringify(rows);

async function count(em: EntityManager, sql: string, rows: readonly object[]): Promise<number> {
  if (rows.length === 0) return 0;
  const [result] = await em.query(
    `WITH written AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM written`,
    [rowsParam(rows)],
  );
  return result.n as number;
}

const INSERT_TOKEN_USAGES = `
  INSERT INTO aibridge_token_usages (id, interception_id, provider_response_id, input_tokens, output_tokens,
      cache_read_input_tokens, cache_write_input_tokens, metadata, created_at)
  SELECT id, interception_id, provider_response_id, input_tokens, output_tokens,
      cache_read_input_tokens, cache_write_input_tokens, metadata, created_at
    FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, interception_id uuid, provider_response_id text,
      input_tokens bigint, output_tokens bigint, cache_read_input_tokens bigint, cache_write_input_tokens bigint,
      metadata jsonb, created_at timestamptz)
  ON CONFLICT (id) DO NOTHING`;

const INSERT_PROMPTS = `
  INSERT INTO aibridge_user_prompts (id, interception_id, provider_response_id, prompt, metadata, created_at)
  SELECT id, interception_id, provider_response_id, prompt, metadata, created_at
    FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, interception_id uuid, provider_response_id text,
      prompt text, metadata jsonb, created_at timestamptz)
  ON CONFLICT (id) DO NOTHING`;

const INSERT_TOOL_USAGES = `
  INSERT INTO aibridge_tool_usages (id, interception_id, provider_response_id, provider_tool_call_id,
      provider_item_id, server_url, tool, input, injected, invocation_error, metadata, created_at)
  SELECT id, interception_id, provider_response_id, provider_tool_call_id, provider_item_id, server_url,
      tool, input, injected, invocation_error, metadata, created_at
    FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, interception_id uuid, provider_response_id text,
      provider_tool_call_id text, provider_item_id text, server_url text, tool text, input text,
      injected boolean, invocation_error text, metadata jsonb, created_at timestamptz)
  ON CONFLICT (id) DO NOTHING`;

const INSERT_THOUGHTS = `
  INSERT INTO aibridge_model_thoughts (id, interception_id, content, metadata, created_at)
  SELECT id, interception_id, content, metadata, created_at
    FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, interception_id uuid, content text, metadata jsonb,
      created_at timestamptz)
  ON CONFLICT (id) DO NOTHING`;

// Lineage: the newest tool call with the request's correlating id is the parent's (never
// another user's: tool call ids are only unique per provider account); the root is the
// parent's root, or the parent itself. A parent started in the same batch is not visible to
// this statement (it is inserted by it), so its initiator is read from the batch, and its
// children's roots are repaired afterwards (repairRoots). A parent not recorded at all yet is
// taken as a root.
const INSERT_INTERCEPTIONS = `
  WITH batch AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, initiator_id uuid, provider text,
      provider_name text, model text, started_at timestamptz, metadata jsonb, api_key_id text, client text,
      client_session_id text, credential_kind text, credential_hint text, correlating_tool_call_id text)),
  inserted AS (
    INSERT INTO aibridge_interceptions (id, initiator_id, provider, provider_name, model, started_at, metadata,
        api_key_id, client, client_session_id, credential_kind, credential_hint, thread_parent_id, thread_root_id)
    SELECT t.id, t.initiator_id, t.provider, t.provider_name, t.model, t.started_at, t.metadata,
        t.api_key_id, t.client, t.client_session_id, t.credential_kind::credential_kind, t.credential_hint,
        parent.interception_id, COALESCE(parent.thread_root_id, parent.interception_id)
      FROM batch t
      LEFT JOIN LATERAL (
        SELECT u.interception_id, p.thread_root_id
          FROM aibridge_tool_usages u
          LEFT JOIN aibridge_interceptions p ON p.id = u.interception_id
          LEFT JOIN batch b ON b.id = u.interception_id
         WHERE u.provider_tool_call_id = t.correlating_tool_call_id AND u.interception_id <> t.id
           AND COALESCE(p.initiator_id, b.initiator_id, t.initiator_id) = t.initiator_id
         ORDER BY u.created_at DESC, u.id DESC
         LIMIT 1) parent ON t.correlating_tool_call_id IS NOT NULL
    ON CONFLICT (id) DO NOTHING
    RETURNING thread_parent_id)
  SELECT count(*)::int AS n,
         COALESCE(array_agg(thread_parent_id::text) FILTER (WHERE thread_parent_id IS NOT NULL), '{}') AS parents
    FROM inserted`;

// One level of a thread per pass: a row of this batch whose parent's root (or the parent
// itself) differs from its own root takes it. Rows of the batch are not complete yet (ends are
// applied after this), so no session changes under the count triggers.
const REPAIR_ROOTS = `
  WITH repaired AS (
    UPDATE aibridge_interceptions c SET thread_root_id = COALESCE(p.thread_root_id, p.id)
      FROM aibridge_interceptions p
     WHERE c.id = ANY($1::uuid[]) AND c.ended_at IS NULL AND p.id = c.thread_parent_id
       AND c.thread_root_id IS DISTINCT FROM COALESCE(p.thread_root_id, p.id)
    RETURNING 1)
  SELECT count(*)::int AS n FROM repaired`;

async function insertInterceptions(
  em: EntityManager,
  rows: readonly AibridgeInterceptionStarted[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const [result] = await em.query(INSERT_INTERCEPTIONS, [
    rowsParam(
      rows.map((r) => ({
        id: r.id,
        initiator_id: r.initiator_id,
        provider: r.provider,
        provider_name: r.provider_name,
        model: r.model,
        started_at: r.started_at,
        // The reference keeps the request's user agent in the metadata.
        metadata: r.user_agent ? { ...r.metadata, request_user_agent: r.user_agent } : r.metadata,
        api_key_id: r.api_key_id,
        client: r.client,
        client_session_id: r.client_session_id ?? null,
        credential_kind: r.credential_kind ?? 'centralized',
        credential_hint: r.credential_hint ?? '',
        correlating_tool_call_id: r.correlating_tool_call_id ?? null,
      })),
    ),
  ]);
  const ids = rows.map((r) => r.id);
  const batchIds = new Set(ids);
  if ((result.parents as string[]).some((p) => batchIds.has(p))) await repairRoots(em, ids);
  return result.n as number;
}

/** Gives children whose parent started in the same batch the parent's root (see REPAIR_ROOTS). */
async function repairRoots(em: EntityManager, ids: readonly string[]): Promise<void> {
  // A chain inside one batch is at most as deep as the batch is long.
  for (let pass = 0; pass < ids.length; pass++) {
    const [{ n }] = (await em.query(REPAIR_ROOTS, [ids])) as [{ n: number }];
    if (n === 0) return;
  }
}

/** Fills `ended_at` where it is still NULL; returns the ids with no interception row at all. */
async function endInterceptions(
  em: EntityManager,
  rows: readonly AibridgeInterceptionEnded[],
): Promise<{ written: number; unknown: Set<string> }> {
  if (rows.length === 0) return { written: 0, unknown: new Set() };
  const [result] = await em.query(
    `WITH input AS (
       SELECT DISTINCT ON (id) id, ended_at
         FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, ended_at timestamptz) ORDER BY id, ended_at),
     ended AS (
       UPDATE aibridge_interceptions i SET ended_at = input.ended_at
         FROM input WHERE i.id = input.id AND i.ended_at IS NULL
       RETURNING i.id)
     SELECT (SELECT count(*)::int FROM ended) AS written,
            COALESCE((SELECT array_agg(input.id::text) FROM input
                       WHERE NOT EXISTS (SELECT 1 FROM aibridge_interceptions i WHERE i.id = input.id)),
                     '{}') AS unknown`,
    [rowsParam(rows.map((r) => ({ id: r.id, ended_at: r.ended_at })))],
  );
  return { written: result.written, unknown: new Set(result.unknown as string[]) };
}

/** Stores a batch of validated records in the caller's transaction. */
export async function storeAibridgeRecords(
  em: EntityManager,
  records: readonly AibridgeRecord[],
): Promise<StoreResult> {
  const g = group(records);
  const tokens = await count(
    em,
    INSERT_TOKEN_USAGES,
    g['usage.token'].map((r: AibridgeTokenUsage) => withoutKind(r)),
  );
  const prompts = await count(
    em,
    INSERT_PROMPTS,
    g['usage.prompt'].map((r: AibridgePromptUsage) => withoutKind(r)),
  );
  const tools = await count(
    em,
    INSERT_TOOL_USAGES,
    g['usage.tool'].map((r: AibridgeToolUsage) => ({
      ...withoutKind(r),
      provider_tool_call_id: r.provider_tool_call_id ?? null,
      provider_item_id: r.provider_item_id ?? null,
      server_url: r.server_url ?? null,
      invocation_error: r.invocation_error ?? null,
    })),
  );
  const thoughts = await count(
    em,
    INSERT_THOUGHTS,
    g['usage.thought'].map((r: AibridgeModelThought) => withoutKind(r)),
  );
  const started = await insertInterceptions(em, g['interception.started']);
  const ends = await endInterceptions(em, g['interception.ended']);
  return {
    unknownEnds: ends.unknown,
    written: {
      'interception.started': started,
      'interception.ended': ends.written,
      'usage.token': tokens,
      'usage.prompt': prompts,
      'usage.tool': tools,
      'usage.thought': thoughts,
    },
  };
}

function withoutKind<T extends { kind: string }>(r: T): Omit<T, 'kind'> {
  const { kind: _kind, ...rest } = r;
  return rest;
}
