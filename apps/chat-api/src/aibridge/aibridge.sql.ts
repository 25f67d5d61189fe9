// SQL for the AI Bridge read API. Every statement reads completed interceptions only
// (ended_at IS NOT NULL, which is also the predicate of the partial indexes used here), takes
// the caller's RBAC read filter as a condition on initiator_id (never a post-filter), and
// binds every value as a parameter.
//
// Query plans (checked with EXPLAIN ANALYZE at 2M interceptions / ~320k sessions, see
// bench/aibridge-read.mjs):
//
// Interceptions page: walks idx_aibridge_interceptions_started_id_desc (started_at DESC,
// id DESC) from the keyset position `(started_at, id) < cursor row` (a row comparison the
// index serves as a range start) and stops after `limit` matches; a filter on initiator makes
// the planner walk idx_aibridge_interceptions_initiator_started instead. Children are read
// afterwards with `interception_id = ANY($ids)` for the page only.
//
// Sessions page ("paginate first, enrich after"). A session is the pair (session_id,
// initiator_id) of completed interceptions; the list is ordered by the session's first start
// (MIN(started_at)) DESC, then session_id DESC, initiator_id DESC. Grouping every pair to find
// the newest 25 costs a full pass over the index (~2 s at 2M rows). Instead the page step walks
// interceptions newest first (the same started_at index) and keeps only rows that are the
// FIRST interception of their pair among the filtered rows: a NOT EXISTS probe on
// idx_aibridge_interceptions_session_id (session_id, initiator_id, started_at) looks for an
// earlier row of the same pair (ties on started_at broken by id, so exactly one row per pair
// qualifies). The first row's started_at is the pair's MIN(started_at), so the rows come out
// in the list's order and the scan stops after limit + offset pairs: roughly limit ×
// (interceptions per session) rows and as many probes, i.e. a few hundred buffer hits instead
// of millions. Within one started_at value an incremental sort orders session_id and
// initiator_id. The keyset cursor `(first start, session_id, initiator_id) < cursor` is also
// expressed as `started_at <= cursor start`, the index's range start. Filters on provider,
// provider name, model, client and time apply to both the walked row and the probe (the
// pair's first start is over filtered rows, as in the GROUP BY definition); filters on
// initiator and session id and the RBAC filter only to the walked row (the probe stays inside
// the pair). Then the page's pairs alone are enriched with LATERAL subqueries over the same
// index: end and thread count over the filtered rows (index-only when unfiltered), first
// client and metadata, sorted distinct providers and models and the id list over all the
// session's completed rows, token sums with `interception_id = ANY(ids)`, and the newest
// prompt through (interception_id, created_at DESC, id DESC).
//
// Sessions count: count(*) over `GROUP BY session_id, initiator_id` of the filtered rows, which
// streams from an index-only scan of idx_aibridge_interceptions_session_id in group order (no
// hash, no sort, no spill); COUNT(DISTINCT (session_id, initiator_id)) would sort every row.
// It still reads every matching index entry, so on a large table it would dominate the
// request: unfiltered (or by initiator only), both lists read their counts from
// aibridge_initiator_stats, which the recorder keeps as interceptions complete (see the
// AibridgeInitiatorStats migration); other filters count the rows.
import type { AuthContext } from '../auth/auth.types';
import { sqlFilter } from '../auth/authz';
import type { AibridgeFilter } from './aibridge-query';

/** Positional parameters of one statement. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }

  /**
   * The caller's RBAC read filter as a condition on an initiator column alone, or undefined
   * when visibility depends on interception ids (a token scoped to some interceptions):
   * then only the rows themselves can be counted.
   */
  authzByInitiator(auth: AuthContext, initiatorCol: string): string | undefined {
    const offset = this.values.length + 1;
    const cols = { ownerCol: initiatorCol };
    const byOwner = sqlFilter(auth, 'read', 'aibridge_interception', cols)(offset);
    const withIds = sqlFilter(auth, 'read', 'aibridge_interception', { ...cols, idCol: 'ai_probe.id' })(
      offset,
    );
    if (withIds.sql !== byOwner.sql) return undefined;
    this.values.push(...byOwner.params);
    return byOwner.sql;
  }

  /** The caller's RBAC read filter over interceptions aliased `alias`. */
  authz(auth: AuthContext, alias: string): string {
    const filter = sqlFilter(auth, 'read', 'aibridge_interception', {
      idCol: `${alias}.id`,
      ownerCol: `${alias}.initiator_id`,
    })(this.values.length + 1);
    this.values.push(...filter.params);
    return filter.sql;
  }
}

/** Filters after resolution (initiator is a user id). */
export type ResolvedFilter = Omit<AibridgeFilter, 'initiator'> & { initiatorId?: string };

/**
 * The filter's conditions with their parameters bound once in `params`, rendered for any
 * alias. `valueConds` are the per-row value filters (kept by the first-row probe);
 * `pairConds` add the ones that are constant within a session pair.
 */
export class FilterSql {
  private readonly refs: Partial<Record<keyof ResolvedFilter, string>> = {};

  constructor(
    readonly filter: ResolvedFilter,
    params: Params,
  ) {
    const f = filter;
    if (f.startedAfter) this.refs.startedAfter = params.add(f.startedAfter, '::timestamptz');
    if (f.startedBefore) this.refs.startedBefore = params.add(f.startedBefore, '::timestamptz');
    if (f.provider) this.refs.provider = params.add(f.provider, '::text');
    if (f.providerName) this.refs.providerName = params.add(f.providerName, '::text');
    if (f.model) this.refs.model = params.add(f.model, '::text');
    if (f.client) this.refs.client = params.add(f.client, '::text');
    if (f.initiatorId) this.refs.initiatorId = params.add(f.initiatorId, '::uuid');
    if (f.sessionId) this.refs.sessionId = params.add(f.sessionId, '::text');
  }

  /** Completed rows matching the per-row value filters. */
  valueConds(a: string): string[] {
    const r = this.refs;
    const out = [`${a}.ended_at IS NOT NULL`];
    if (r.startedAfter) out.push(`${a}.started_at >= ${r.startedAfter}`);
    if (r.startedBefore) out.push(`${a}.started_at <= ${r.startedBefore}`);
    if (r.provider) out.push(`${a}.provider = ${r.provider}`);
    if (r.providerName) out.push(`${a}.provider_name = ${r.providerName}`);
    if (r.model) out.push(`${a}.model = ${r.model}`);
    if (r.client) out.push(`COALESCE(${a}.client, 'Unknown') = ${r.client}`);
    return out;
  }

  /** Every filter condition. */
  allConds(a: string): string[] {
    const r = this.refs;
    const out = this.valueConds(a);
    if (r.initiatorId) out.push(`${a}.initiator_id = ${r.initiatorId}`);
    if (r.sessionId) out.push(`${a}.session_id = ${r.sessionId}`);
    return out;
  }
}

/** A timestamptz as fixed-width UTC text with microseconds (`YYYY-MM-DDTHH:MM:SS.ffffff`). */
export const ts = (expr: string) => `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;

/** A timestamptz as RFC 3339 text that Postgres reads back exactly (keyset cursors). */
export const exactTs = (expr: string) =>
  `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const INTERCEPTION_COLUMNS = (a: string) => `${a}.id, ${a}.api_key_id, ${a}.initiator_id,
  ${a}.provider, ${a}.provider_name, ${a}.model, ${a}.client, ${a}.metadata,
  ${ts(`${a}.started_at`)} AS started_at, ${ts(`${a}.ended_at`)} AS ended_at,
  ${a}.thread_root_id, ${a}.credential_kind::text AS credential_kind, ${a}.credential_hint`;

/** The initiator's MinimalUser columns from `users` aliased `u` (LEFT JOINed). */
export const USER_COLUMNS = `u.username AS user_username, u.name AS user_name, u.avatar_url AS user_avatar_url`;

/**
 * A list count read from aibridge_initiator_stats (kept by the recorder) instead of counted
 * over the rows: possible when the only filter is the initiator and visibility is by
 * initiator. Undefined otherwise.
 */
export function statsCountSql(
  what: 'interceptions' | 'sessions',
  filter: ResolvedFilter,
  auth: AuthContext,
  params: Params,
): string | undefined {
  const f = filter;
  if (f.provider || f.providerName || f.model || f.client || f.sessionId || f.startedAfter || f.startedBefore)
    return undefined;
  const authz = params.authzByInitiator(auth, 's.initiator_id');
  if (authz === undefined) return undefined;
  const conds = [authz];
  if (f.initiatorId) conds.push(`s.initiator_id = ${params.add(f.initiatorId, '::uuid')}`);
  return `SELECT COALESCE(sum(s.${what}), 0)::bigint AS count FROM aibridge_initiator_stats s
           WHERE ${conds.join(' AND ')}`;
}

/** The number of session pairs among the filtered rows (see "Sessions count" above). */
export function sessionCountSql(f: FilterSql, authz: string): string {
  return `
    SELECT count(*)::bigint AS count FROM (
      SELECT 1 FROM aibridge_interceptions ai
       WHERE ${[...f.allConds('ai'), authz].join(' AND ')}
       GROUP BY ai.session_id, ai.initiator_id) pairs`;
}

/**
 * The first interceptions of the page's session pairs (the page step described above):
 * columns session_id, initiator_id, started_at. `cursor` holds parameter references to the
 * cursor pair's (first start, session_id, initiator_id).
 */
export function sessionPageSql(
  f: FilterSql,
  authz: string,
  page: {
    limit: string;
    offset: string;
    cursor?: { startedAt: string; sessionId: string; initiatorId: string };
    /** `asc` returns the oldest pairs first (cursor resolution); the list is `desc`. */
    order?: 'asc' | 'desc';
  },
): string {
  const c = page.cursor;
  const dir = page.order === 'asc' ? 'ASC' : 'DESC';
  const keyset = c
    ? `AND ai.started_at <= ${c.startedAt}
       AND (ai.started_at, ai.session_id, ai.initiator_id) < (${c.startedAt}, ${c.sessionId}, ${c.initiatorId})`
    : '';
  return `
    SELECT ai.session_id, ai.initiator_id, ai.started_at
      FROM aibridge_interceptions ai
     WHERE ${[...f.allConds('ai'), authz].join(' AND ')}
       ${keyset}
       AND NOT EXISTS (
             SELECT 1 FROM aibridge_interceptions e
              WHERE e.session_id = ai.session_id
                AND e.initiator_id = ai.initiator_id
                AND e.started_at <= ai.started_at
                AND (e.started_at < ai.started_at OR e.id < ai.id)
                AND ${f.valueConds('e').join(' AND ')})
     ORDER BY ai.started_at ${dir}, ai.session_id ${dir}, ai.initiator_id ${dir}
     LIMIT ${page.limit} OFFSET ${page.offset}`;
}

/**
 * Enriches a page of session pairs (`pageSql`: session_id, initiator_id, started_at) into
 * session rows, in the list's order. `f` gives the filtered rows the end and thread count are
 * computed over.
 */
export function enrichSessionsSql(pageSql: string, f: FilterSql): string {
  return `
    WITH page AS MATERIALIZED (${pageSql})
    SELECT page.session_id, page.initiator_id, ${USER_COLUMNS},
           ${ts('page.started_at')} AS started_at, ${ts('g.ended_at')} AS ended_at, g.threads,
           s.client, s.metadata, s.providers, s.models,
           t.input_tokens, t.output_tokens, t.cache_read_input_tokens, t.cache_write_input_tokens,
           lp.prompt AS last_prompt
      FROM page
      LEFT JOIN users u ON u.id = page.initiator_id
     CROSS JOIN LATERAL (
           SELECT MAX(x.ended_at) AS ended_at, COUNT(*) FILTER (WHERE x.thread_root_id IS NULL) AS threads
             FROM aibridge_interceptions x
            WHERE x.session_id = page.session_id AND x.initiator_id = page.initiator_id
              AND ${f.valueConds('x').join(' AND ')}) g
     CROSS JOIN LATERAL (
           SELECT (array_agg(x.client ORDER BY x.started_at, x.id))[1] AS client,
                  (array_agg(x.metadata ORDER BY x.started_at, x.id))[1] AS metadata,
                  array_agg(DISTINCT x.provider ORDER BY x.provider) AS providers,
                  array_agg(DISTINCT x.model ORDER BY x.model) AS models,
                  array_agg(x.id) AS ids
             FROM aibridge_interceptions x
            WHERE x.session_id = page.session_id AND x.initiator_id = page.initiator_id
              AND x.ended_at IS NOT NULL) s
     CROSS JOIN LATERAL (
           SELECT COALESCE(SUM(tu.input_tokens), 0)::bigint AS input_tokens,
                  COALESCE(SUM(tu.output_tokens), 0)::bigint AS output_tokens,
                  COALESCE(SUM(tu.cache_read_input_tokens), 0)::bigint AS cache_read_input_tokens,
                  COALESCE(SUM(tu.cache_write_input_tokens), 0)::bigint AS cache_write_input_tokens
             FROM aibridge_token_usages tu
            WHERE tu.interception_id = ANY(s.ids)) t
      LEFT JOIN LATERAL (
           SELECT up.prompt FROM aibridge_user_prompts up
            WHERE up.interception_id = ANY(s.ids)
            ORDER BY up.created_at DESC, up.id DESC
            LIMIT 1) lp ON true
     ORDER BY page.started_at DESC, page.session_id DESC, page.initiator_id DESC`;
}
