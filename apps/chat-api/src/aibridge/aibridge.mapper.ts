// Row → wire mapping for the AI Bridge read API (codersdk's JSON: null for absent api key,
// client and end; "" for absent server_url and invocation_error; {} for absent metadata).
import type {
  AIBridgeAgenticAction,
  AIBridgeInterception,
  AIBridgeSession,
  AIBridgeSessionThreadsResponse,
  AIBridgeSessionThreadsTokenUsage,
  AIBridgeThread,
  AIBridgeTokenUsage,
  AIBridgeToolUsage,
  AIBridgeUserPrompt,
  MinimalUser,
} from '@agentmesh/contracts';

/** Timestamps arrive as fixed-width UTC text with microseconds (see `ts` in aibridge.sql). */
export type DbTime = string;

/**
 * RFC 3339 in UTC as Go's time.Time marshals it: fractional seconds with trailing zeros
 * trimmed (none when whole), then `Z`.
 */
export function goTime(t: DbTime): string {
  const [whole, frac = ''] = t.split('.');
  const trimmed = frac.replace(/0+$/, '');
  return `${whole}${trimmed ? `.${trimmed}` : ''}Z`;
}

export const goTimeOrNull = (t: DbTime | null): string | null => (t === null ? null : goTime(t));

/** A JSON object value, or {} for NULL and non-objects (as Go decodes into a map). */
export function jsonObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export interface UserCols {
  initiator_id: string;
  user_username: string | null;
  user_name: string | null;
  user_avatar_url: string | null;
}

/** The initiator; an id without a user row (there is no foreign key) keeps an empty username. */
export function minimalUser(r: UserCols): MinimalUser {
  return {
    id: r.initiator_id,
    username: r.user_username ?? '',
    ...(r.user_name ? { name: r.user_name } : {}),
    ...(r.user_avatar_url ? { avatar_url: r.user_avatar_url } : {}),
  };
}

export interface InterceptionRow extends UserCols {
  id: string;
  api_key_id: string | null;
  provider: string;
  provider_name: string;
  model: string;
  client: string | null;
  metadata: unknown;
  started_at: DbTime;
  ended_at: DbTime | null;
  thread_root_id: string | null;
  credential_kind: string;
  credential_hint: string;
}

export interface TokenUsageRow {
  id: string;
  interception_id: string;
  provider_response_id: string;
  input_tokens: string;
  output_tokens: string;
  cache_read_input_tokens: string;
  cache_write_input_tokens: string;
  metadata: unknown;
  created_at: DbTime;
}

export interface PromptRow {
  id: string;
  interception_id: string;
  provider_response_id: string;
  prompt: string;
  metadata: unknown;
  created_at: DbTime;
}

export interface ToolUsageRow {
  id: string;
  interception_id: string;
  provider_response_id: string;
  server_url: string | null;
  tool: string;
  input: string;
  injected: boolean;
  invocation_error: string | null;
  metadata: unknown;
  created_at: DbTime;
}

export interface ThoughtRow {
  id: string;
  interception_id: string;
  content: string;
  metadata: unknown;
  created_at: DbTime;
}

export interface SessionRow extends UserCols {
  session_id: string;
  started_at: DbTime;
  ended_at: DbTime | null;
  threads: string;
  client: string | null;
  metadata: unknown;
  providers: string[] | null;
  models: string[] | null;
  input_tokens: string;
  output_tokens: string;
  cache_read_input_tokens: string;
  cache_write_input_tokens: string;
  last_prompt: string | null;
}

export function toTokenUsage(r: TokenUsageRow): AIBridgeTokenUsage {
  return {
    id: r.id,
    interception_id: r.interception_id,
    provider_response_id: r.provider_response_id,
    input_tokens: Number(r.input_tokens),
    output_tokens: Number(r.output_tokens),
    cache_read_input_tokens: Number(r.cache_read_input_tokens),
    cache_write_input_tokens: Number(r.cache_write_input_tokens),
    metadata: jsonObject(r.metadata),
    created_at: goTime(r.created_at),
  };
}

export function toUserPrompt(r: PromptRow): AIBridgeUserPrompt {
  return {
    id: r.id,
    interception_id: r.interception_id,
    provider_response_id: r.provider_response_id,
    prompt: r.prompt,
    metadata: jsonObject(r.metadata),
    created_at: goTime(r.created_at),
  };
}

export function toToolUsage(r: ToolUsageRow): AIBridgeToolUsage {
  return {
    id: r.id,
    interception_id: r.interception_id,
    provider_response_id: r.provider_response_id,
    server_url: r.server_url ?? '',
    tool: r.tool,
    input: r.input,
    injected: r.injected,
    invocation_error: r.invocation_error ?? '',
    metadata: jsonObject(r.metadata),
    created_at: goTime(r.created_at),
  };
}

/** Groups rows by interception id, keeping their order. */
export function byInterception<T extends { interception_id: string }>(rows: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const list = out.get(r.interception_id);
    if (list) list.push(r);
    else out.set(r.interception_id, [r]);
  }
  return out;
}

export function toInterception(
  r: InterceptionRow,
  tokens: TokenUsageRow[],
  prompts: PromptRow[],
  tools: ToolUsageRow[],
): AIBridgeInterception {
  return {
    id: r.id,
    api_key_id: r.api_key_id,
    initiator: minimalUser(r),
    provider: r.provider,
    provider_name: r.provider_name,
    model: r.model,
    client: r.client,
    metadata: jsonObject(r.metadata),
    started_at: goTime(r.started_at),
    ended_at: goTimeOrNull(r.ended_at),
    token_usages: tokens.map(toTokenUsage),
    user_prompts: prompts.map(toUserPrompt),
    tool_usages: tools.map(toToolUsage),
  };
}

export function toSession(r: SessionRow): AIBridgeSession {
  return {
    id: r.session_id,
    initiator: minimalUser(r),
    providers: r.providers ?? [],
    models: r.models ?? [],
    client: r.client || null,
    metadata: jsonObject(r.metadata),
    started_at: goTime(r.started_at),
    ...(r.ended_at ? { ended_at: goTime(r.ended_at) } : {}),
    threads: Number(r.threads),
    token_usage_summary: {
      input_tokens: Number(r.input_tokens),
      output_tokens: Number(r.output_tokens),
      cache_read_input_tokens: Number(r.cache_read_input_tokens),
      cache_write_input_tokens: Number(r.cache_write_input_tokens),
    },
    ...(r.last_prompt ? { last_prompt: r.last_prompt } : {}),
  };
}

/** Adds every integer leaf of a JSON object into `sums`, nested keys joined with dots. */
function sumNumericLeaves(sums: Map<string, number>, prefix: string, obj: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') {
      if (Number.isInteger(v)) sums.set(key, (sums.get(key) ?? 0) + v);
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      sumNumericLeaves(sums, key, v as Record<string, unknown>);
    }
  }
}

/** Token sums of the rows, with their metadata's integer leaves summed by key. */
export function aggregateTokens(rows: TokenUsageRow[]): AIBridgeSessionThreadsTokenUsage {
  const sums = new Map<string, number>();
  const total = {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
  };
  for (const r of rows) {
    total.input_tokens += Number(r.input_tokens);
    total.output_tokens += Number(r.output_tokens);
    total.cache_read_input_tokens += Number(r.cache_read_input_tokens);
    total.cache_write_input_tokens += Number(r.cache_write_input_tokens);
    sumNumericLeaves(sums, '', jsonObject(r.metadata));
  }
  return { ...total, metadata: Object.fromEntries([...sums].sort(([a], [b]) => (a < b ? -1 : 1))) };
}

export interface ThreadInputs {
  /** Root ids of the page, in page order. */
  rootIds: string[];
  /** The page's interceptions, each thread's in (started_at, id) order. */
  interceptions: InterceptionRow[];
  /** Token usages of every interception of the session. */
  tokens: Map<string, TokenUsageRow[]>;
  tools: Map<string, ToolUsageRow[]>;
  prompts: Map<string, PromptRow[]>;
  thoughts: Map<string, ThoughtRow[]>;
}

function toThread(rootId: string, rows: InterceptionRow[], x: ThreadInputs): AIBridgeThread {
  const root = rows.find((r) => r.id === rootId) ?? rows[0];
  const prompt = x.prompts.get(root.id)?.[0]?.prompt;
  const startedAt = rows.reduce((m, r) => (r.started_at < m ? r.started_at : m), rows[0].started_at);
  const endedAt = rows.reduce<DbTime | null>(
    (m, r) => (r.ended_at !== null && (m === null || r.ended_at > m) ? r.ended_at : m),
    null,
  );
  const actions: AIBridgeAgenticAction[] = [];
  for (const r of rows) {
    const tools = x.tools.get(r.id) ?? [];
    if (tools.length === 0) continue;
    actions.push({
      model: r.model,
      token_usage: aggregateTokens(x.tokens.get(r.id) ?? []),
      thinking: (x.thoughts.get(r.id) ?? []).map((t) => ({ text: t.content })),
      tool_calls: tools.map((t) => ({
        id: t.id,
        interception_id: t.interception_id,
        provider_response_id: t.provider_response_id,
        server_url: t.server_url ?? '',
        tool: t.tool,
        injected: t.injected,
        input: t.input,
        metadata: jsonObject(t.metadata),
        created_at: goTime(t.created_at),
      })),
    });
  }
  return {
    id: rootId,
    ...(prompt !== undefined ? { prompt } : {}),
    model: root.model,
    provider: root.provider,
    credential_kind: root.credential_kind,
    credential_hint: root.credential_hint,
    started_at: goTime(startedAt),
    ...(endedAt ? { ended_at: goTime(endedAt) } : {}),
    token_usage: aggregateTokens(rows.flatMap((r) => x.tokens.get(r.id) ?? [])),
    agentic_actions: actions,
  };
}

export function toSessionThreads(
  session: SessionRow,
  allTokens: TokenUsageRow[],
  x: ThreadInputs,
): AIBridgeSessionThreadsResponse {
  const byThread = new Map<string, InterceptionRow[]>(x.rootIds.map((id) => [id, []]));
  for (const r of x.interceptions) byThread.get(r.thread_root_id ?? r.id)?.push(r);
  // Every root is among the page's interceptions; an empty group would only mean a row vanished.
  const threads = x.rootIds.flatMap((id) => {
    const rows = byThread.get(id) ?? [];
    return rows.length > 0 ? [{ id, rows }] : [];
  });
  const pageRows = threads.flatMap((t) => t.rows);
  const pageStart = pageRows.reduce<DbTime | null>(
    (m, r) => (m === null || r.started_at < m ? r.started_at : m),
    null,
  );
  const pageEnd = pageRows.reduce<DbTime | null>(
    (m, r) => (r.ended_at !== null && (m === null || r.ended_at > m) ? r.ended_at : m),
    null,
  );
  const base = toSession(session);
  return {
    id: base.id,
    initiator: base.initiator,
    providers: base.providers,
    models: base.models,
    ...(base.client ? { client: base.client } : {}),
    metadata: base.metadata,
    ...(pageStart ? { page_started_at: goTime(pageStart) } : {}),
    ...(pageEnd ? { page_ended_at: goTime(pageEnd) } : {}),
    started_at: base.started_at,
    ...(base.ended_at ? { ended_at: base.ended_at } : {}),
    token_usage_summary: {
      ...base.token_usage_summary,
      metadata: aggregateTokens(allTokens).metadata,
    },
    threads: threads.map((t) => toThread(t.id, t.rows, x)),
  };
}
