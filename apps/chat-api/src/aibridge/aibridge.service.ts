// The AI Bridge read API: interceptions, sessions, one session's threads, and the model and
// client pickers. Reads only; the aibridge-recorder writes these tables. Each list runs its
// count and its page in one REPEATABLE READ, read-only transaction so both see one snapshot.
// Visibility is the RBAC read filter on aibridge_interception (owners and auditors read every
// row; other roles only what libs/rbac grants them on their own rows), compiled into SQL.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import {
  AIBridgeInterception,
  AIBridgeListInterceptionsResponse,
  AIBridgeListSessionsResponse,
  AIBridgeSessionThreadsResponse,
  ValidationError,
} from '@agentmesh/contracts';
import { inTransaction } from '@agentmesh/db';
import { escapeLike, findUser, isUuid } from '@agentmesh/entities';
import { AuthContext } from '../auth/auth.types';
import { can, Objects } from '../auth/authz';
import { ApiError } from '../http/api-error';
import { RawQuery, throwIfProblems } from '../http/query';
import {
  AibridgeFilter,
  INTERCEPTION_KEYS,
  parseCursorPage,
  parseFilter,
  parseListPage,
  parseSearch,
  parseThreadsPage,
  searchParam,
  SESSION_KEYS,
} from './aibridge-query';
import {
  byInterception,
  InterceptionRow,
  PromptRow,
  SessionRow,
  ThoughtRow,
  toInterception,
  TokenUsageRow,
  ToolUsageRow,
  toSession,
  toSessionThreads,
} from './aibridge.mapper';
import {
  enrichSessionsSql,
  exactTs,
  FilterSql,
  INTERCEPTION_COLUMNS,
  Params,
  ResolvedFilter,
  sessionCountSql,
  statsCountSql,
  sessionPageSql,
  ts,
  USER_COLUMNS,
} from './aibridge.sql';

type Db = Pick<EntityManager, 'query'>;

const INVALID_CURSOR = 'Invalid pagination cursor.';

@Injectable()
export class AibridgeService {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /** One consistent, read-only snapshot for several statements. */
  private snapshot<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return inTransaction(
      this.ds,
      async (em) => {
        await em.query('SET TRANSACTION READ ONLY');
        return fn(em);
      },
      { isolation: 'REPEATABLE READ' },
    );
  }

  /**
   * `initiator:` as a user id: `me`, a uuid (taken as is, like the reference: an unknown id
   * simply matches nothing) or the username of a user the caller may read.
   */
  private async resolveFilter(
    auth: AuthContext,
    filter: AibridgeFilter,
    problems: ValidationError[],
  ): Promise<ResolvedFilter> {
    const { initiator, ...rest } = filter;
    if (initiator === undefined) return rest;
    if (initiator === 'me') return { ...rest, initiatorId: auth.userId };
    if (isUuid(initiator)) return { ...rest, initiatorId: initiator.toLowerCase() };
    const user = initiator.length <= 64 ? await findUser(this.ds, initiator) : undefined;
    if (!user || !can(auth, 'read', Objects.user(user.id))) {
      problems.push({
        field: 'initiator',
        detail: `user "${initiator}" either does not exist, or you are unauthorized to view them`,
      });
      return rest;
    }
    return { ...rest, initiatorId: user.id };
  }

  // ---- GET /interceptions -------------------------------------------------------------------

  async listInterceptions(auth: AuthContext, query: RawQuery): Promise<AIBridgeListInterceptionsResponse> {
    const problems: ValidationError[] = [];
    const page = parseCursorPage(query, 'after_id', 'uuid', problems);
    const filter = parseFilter(searchParam(query, problems), INTERCEPTION_KEYS, 'initiator', problems);
    throwIfProblems(problems);
    const resolved = await this.resolveFilter(auth, filter, problems);
    throwIfProblems(problems);

    return this.snapshot(async (db) => {
      if (page.cursor) {
        const p = new Params();
        const id = p.add(page.cursor, '::uuid');
        const found = await db.query(
          `SELECT 1 FROM aibridge_interceptions ai WHERE ai.id = ${id} AND ${p.authz(auth, 'ai')}`,
          p.values,
        );
        if (found.length === 0)
          throw new ApiError('bad_request', INVALID_CURSOR, undefined, [
            { field: 'after_id', detail: `interception ${page.cursor} not found` },
          ]);
      }

      const sp = new Params();
      const stats = statsCountSql('interceptions', resolved, auth, sp);
      const cp = new Params();
      const [{ count }] = stats
        ? await db.query(stats, sp.values)
        : await db.query(
            `SELECT count(*)::bigint AS count FROM aibridge_interceptions ai
              WHERE ${[...new FilterSql(resolved, cp).allConds('ai'), cp.authz(auth, 'ai')].join(' AND ')}`,
            cp.values,
          );

      const p = new Params();
      const f = new FilterSql(resolved, p);
      const conds = [...f.allConds('ai'), p.authz(auth, 'ai')];
      if (page.cursor) {
        const c = p.add(page.cursor, '::uuid');
        conds.push(
          `(ai.started_at, ai.id) < ((SELECT c.started_at FROM aibridge_interceptions c WHERE c.id = ${c}), ${c})`,
        );
      }
      const rows: InterceptionRow[] = await db.query(
        `SELECT ${INTERCEPTION_COLUMNS('ai')}, ${USER_COLUMNS}
           FROM aibridge_interceptions ai
           LEFT JOIN users u ON u.id = ai.initiator_id
          WHERE ${conds.join(' AND ')}
          ORDER BY ai.started_at DESC, ai.id DESC
          LIMIT ${p.add(page.limit)} OFFSET ${p.add(page.offset)}`,
        p.values,
      );
      return { count: Number(count), results: await this.withChildren(db, rows) };
    });
  }

  /** Loads the page's token usages, prompts and tool usages with one query each. */
  private async withChildren(db: Db, rows: InterceptionRow[]): Promise<AIBridgeInterception[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    // One connection serves the transaction: the statements run one after the other.
    const tokens = byInterception(await this.tokenUsages(db, ids));
    const prompts = byInterception(await this.prompts(db, ids));
    const tools = byInterception(await this.toolUsages(db, ids));
    return rows.map((r) =>
      toInterception(r, tokens.get(r.id) ?? [], prompts.get(r.id) ?? [], tools.get(r.id) ?? []),
    );
  }

  private tokenUsages(db: Db, ids: string[]): Promise<TokenUsageRow[]> {
    return db.query(
      `SELECT t.id, t.interception_id, t.provider_response_id, t.input_tokens, t.output_tokens,
              t.cache_read_input_tokens, t.cache_write_input_tokens, t.metadata, ${ts('t.created_at')} AS created_at
         FROM aibridge_token_usages t WHERE t.interception_id = ANY($1::uuid[])
        ORDER BY t.created_at, t.id`,
      [ids],
    );
  }

  private prompts(db: Db, ids: string[]): Promise<PromptRow[]> {
    return db.query(
      `SELECT t.id, t.interception_id, t.provider_response_id, t.prompt, t.metadata, ${ts('t.created_at')} AS created_at
         FROM aibridge_user_prompts t WHERE t.interception_id = ANY($1::uuid[])
        ORDER BY t.created_at, t.id`,
      [ids],
    );
  }

  private toolUsages(db: Db, ids: string[]): Promise<ToolUsageRow[]> {
    return db.query(
      `SELECT t.id, t.interception_id, t.provider_response_id, t.server_url, t.tool, t.input, t.injected,
              t.invocation_error, t.metadata, ${ts('t.created_at')} AS created_at
         FROM aibridge_tool_usages t WHERE t.interception_id = ANY($1::uuid[])
        ORDER BY t.created_at, t.id`,
      [ids],
    );
  }

  private thoughts(db: Db, ids: string[]): Promise<ThoughtRow[]> {
    return db.query(
      `SELECT t.id, t.interception_id, t.content, t.metadata, ${ts('t.created_at')} AS created_at
         FROM aibridge_model_thoughts t WHERE t.interception_id = ANY($1::uuid[])
        ORDER BY t.created_at, t.id`,
      [ids],
    );
  }

  // ---- GET /sessions ------------------------------------------------------------------------

  async listSessions(auth: AuthContext, query: RawQuery): Promise<AIBridgeListSessionsResponse> {
    assertSessionsReadable(auth);
    const problems: ValidationError[] = [];
    const page = parseCursorPage(query, 'after_session_id', 'text', problems);
    const filter = parseFilter(searchParam(query, problems), SESSION_KEYS, undefined, problems);
    throwIfProblems(problems);
    const resolved = await this.resolveFilter(auth, filter, problems);
    throwIfProblems(problems);

    return this.snapshot(async (db) => {
      const cursor = page.cursor ? await this.sessionCursor(db, auth, resolved, page.cursor) : undefined;

      const sp = new Params();
      const stats = statsCountSql('sessions', resolved, auth, sp);
      const cp = new Params();
      const [{ count }] = stats
        ? await db.query(stats, sp.values)
        : await db.query(sessionCountSql(new FilterSql(resolved, cp), cp.authz(auth, 'ai')), cp.values);

      const p = new Params();
      const f = new FilterSql(resolved, p);
      const authz = p.authz(auth, 'ai');
      const pageSql = sessionPageSql(f, authz, {
        limit: p.add(page.limit),
        offset: p.add(page.offset),
        cursor: cursor && {
          startedAt: p.add(cursor.started_at, '::timestamptz'),
          sessionId: p.add(cursor.session_id, '::text'),
          initiatorId: p.add(cursor.initiator_id, '::uuid'),
        },
      });
      const rows: SessionRow[] = await db.query(enrichSessionsSql(pageSql, f), p.values);
      return { count: Number(count), sessions: rows.map(toSession) };
    });
  }

  /**
   * The sort key (first start, session_id, initiator_id) of the `after_session_id` session.
   * Over the filtered rows when the session has any (the list's own key); otherwise over all
   * its completed rows, so a cursor still marks a position in time. 400 when the caller sees
   * no completed row of it.
   *
   * A session id shared by several initiators (two users' clients sending the same session
   * id) is ambiguous: the cursor cannot say which of its pairs ended the previous page. It
   * resolves to the earliest pair, as the reference's cursor (the session id's earliest
   * start) does: paging always moves forward and ends, but may pass over the later pairs in
   * between. Resolving to the latest pair instead could repeat a page forever.
   */
  private async sessionCursor(
    db: Db,
    auth: AuthContext,
    filter: ResolvedFilter,
    sessionId: string,
  ): Promise<{ started_at: string; session_id: string; initiator_id: string }> {
    for (const f of [{ ...filter, sessionId }, { sessionId }]) {
      const p = new Params();
      const fs = new FilterSql(f, p);
      const sql = sessionPageSql(fs, p.authz(auth, 'ai'), { limit: '1', offset: '0', order: 'asc' });
      const [row] = await db.query(
        `SELECT ${exactTs('c.started_at')} AS started_at, c.session_id, c.initiator_id FROM (${sql}) c`,
        p.values,
      );
      if (row) return row;
    }
    throw new ApiError('bad_request', INVALID_CURSOR, undefined, [
      { field: 'after_session_id', detail: `session "${sessionId}" not found` },
    ]);
  }

  // ---- GET /sessions/{session_id} -----------------------------------------------------------

  async sessionThreads(
    auth: AuthContext,
    sessionId: string,
    query: RawQuery,
  ): Promise<AIBridgeSessionThreadsResponse> {
    assertSessionsReadable(auth);
    const problems: ValidationError[] = [];
    const page = parseThreadsPage(query, problems);
    throwIfProblems(problems);
    // No session id holds NUL (Postgres text cannot) or exceeds the client's 256 characters
    // (code points, as the recorder's validator and varchar(256) count them).
    if (sessionId.includes('\u0000') || [...sessionId].length > 256) throw sessionNotFound();

    return this.snapshot(async (db) => {
      const session = await this.sessionHeader(db, auth, sessionId);
      if (!session) throw sessionNotFound();
      const pair = [session.session_id, session.initiator_id];

      const cursorId = page.afterId ?? page.beforeId;
      if (cursorId) {
        const field = page.afterId ? 'after_id' : 'before_id';
        const p = new Params();
        const id = p.add(cursorId, '::uuid');
        const [c] = await db.query(
          `SELECT ai.session_id, ai.initiator_id FROM aibridge_interceptions ai
            WHERE ai.id = ${id} AND ${p.authz(auth, 'ai')}`,
          p.values,
        );
        if (!c)
          throw new ApiError('bad_request', INVALID_CURSOR, undefined, [
            { field, detail: `interception ${cursorId} not found` },
          ]);
        if (c.session_id !== pair[0] || c.initiator_id !== pair[1])
          throw new ApiError('bad_request', INVALID_CURSOR, undefined, [
            { field, detail: `interception ${cursorId} does not belong to session "${sessionId}"` },
          ]);
      }

      // The page of thread roots, ascending by (started_at, id). before_id takes the `limit`
      // roots just before the cursor.
      const keyset = page.afterId ? '>' : page.beforeId ? '<' : undefined;
      const direction = page.beforeId ? 'DESC' : 'ASC';
      const roots: { id: string }[] = await db.query(
        `SELECT r.id FROM aibridge_interceptions r
          WHERE r.session_id = $1 AND r.initiator_id = $2::uuid
            AND r.ended_at IS NOT NULL AND r.thread_root_id IS NULL
            ${
              keyset
                ? `AND (r.started_at, r.id) ${keyset} ((SELECT c.started_at FROM aibridge_interceptions c WHERE c.id = $4::uuid), $4::uuid)`
                : ''
            }
          ORDER BY r.started_at ${direction}, r.id ${direction}
          LIMIT $3`,
        keyset ? [...pair, page.limit, cursorId] : [...pair, page.limit],
      );
      if (direction === 'DESC') roots.reverse();
      const rootIds = roots.map((r) => r.id);

      const interceptions: InterceptionRow[] = rootIds.length
        ? await db.query(
            `SELECT ${INTERCEPTION_COLUMNS('x')}
               FROM aibridge_interceptions x
              WHERE x.session_id = $1 AND x.initiator_id = $2::uuid AND x.ended_at IS NOT NULL
                AND COALESCE(x.thread_root_id, x.id) = ANY($3::uuid[])
              ORDER BY x.started_at, x.id`,
            [...pair, rootIds],
          )
        : [];
      const ids = interceptions.map((r) => r.id);
      // Token usages of the whole session: the session summary's metadata sums them all.
      const allTokens: TokenUsageRow[] = await db.query(
        `SELECT tu.id, tu.interception_id, tu.provider_response_id, tu.input_tokens, tu.output_tokens,
                tu.cache_read_input_tokens, tu.cache_write_input_tokens, tu.metadata,
                ${ts('tu.created_at')} AS created_at
           FROM aibridge_token_usages tu
          WHERE tu.interception_id IN (
                  SELECT x.id FROM aibridge_interceptions x
                   WHERE x.session_id = $1 AND x.initiator_id = $2::uuid AND x.ended_at IS NOT NULL)
          ORDER BY tu.created_at, tu.id`,
        pair,
      );
      const tools = ids.length ? await this.toolUsages(db, ids) : [];
      const prompts = ids.length ? await this.prompts(db, ids) : [];
      const thoughts = ids.length ? await this.thoughts(db, ids) : [];
      return toSessionThreads(session, allTokens, {
        rootIds,
        interceptions,
        tokens: byInterception(allTokens),
        tools: byInterception(tools),
        prompts: byInterception(prompts),
        thoughts: byInterception(thoughts),
      });
    });
  }

  /**
   * The session row of `sessionId` as the list shows it, over all its completed rows. A
   * session id shared by several initiators names the pair the list shows first (newest
   * first start).
   */
  private async sessionHeader(db: Db, auth: AuthContext, sessionId: string): Promise<SessionRow | undefined> {
    const p = new Params();
    const id = p.add(sessionId, '::text');
    const pageSql = `
      SELECT ai.session_id, ai.initiator_id, MIN(ai.started_at) AS started_at
        FROM aibridge_interceptions ai
       WHERE ai.session_id = ${id} AND ai.ended_at IS NOT NULL AND ${p.authz(auth, 'ai')}
       GROUP BY ai.session_id, ai.initiator_id
       ORDER BY MIN(ai.started_at) DESC, ai.initiator_id DESC
       LIMIT 1`;
    const [row] = await db.query(enrichSessionsSql(pageSql, new FilterSql({}, p)), p.values);
    return row;
  }

  // ---- GET /models, GET /clients ------------------------------------------------------------

  async listModels(auth: AuthContext, query: RawQuery): Promise<string[]> {
    return this.distinctValues(auth, query, 'model', 'ai.model');
  }

  async listClients(auth: AuthContext, query: RawQuery): Promise<string[]> {
    return this.distinctValues(auth, query, 'client', `COALESCE(ai.client, 'Unknown')`);
  }

  /** Distinct values of a column over visible completed interceptions, `q` a prefix. */
  private async distinctValues(
    auth: AuthContext,
    query: RawQuery,
    key: 'model' | 'client',
    expr: string,
  ): Promise<string[]> {
    const problems: ValidationError[] = [];
    const page = parseListPage(query, problems);
    const prefix = parseSearch(searchParam(query, problems), [key], key, problems).get(key);
    throwIfProblems(problems);
    const p = new Params();
    const conds = ['ai.ended_at IS NOT NULL', p.authz(auth, 'ai')];
    if (prefix) conds.push(`${expr} LIKE ${p.add(`${escapeLike(prefix)}%`)} ESCAPE '\\'`);
    const rows: { value: string }[] = await this.ds.query(
      `SELECT ${expr} AS value FROM aibridge_interceptions ai
        WHERE ${conds.join(' AND ')}
        GROUP BY 1 ORDER BY 1
        LIMIT ${p.add(page.limit)} OFFSET ${p.add(page.offset)}`,
      p.values,
    );
    return rows.map((r) => r.value);
  }
}

function sessionNotFound(): ApiError {
  return new ApiError('not_found', 'Session not found.');
}

/**
 * Sessions aggregate every interception of a (session, initiator) pair, so they are shown only
 * to callers whose visibility is by initiator. A token limited to some interceptions (an
 * allow list of ids) would see the other interceptions of their sessions through the
 * aggregates: 403 (the interceptions list still shows it exactly what it may read).
 */
function assertSessionsReadable(auth: AuthContext): void {
  if (new Params().authzByInitiator(auth, 'ai.initiator_id') === undefined)
    throw ApiError.forbidden(
      'This token is limited to specific interceptions; sessions need read access by user.',
    );
}
