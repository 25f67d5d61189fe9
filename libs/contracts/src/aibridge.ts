// AI Bridge recording over the bus (JetStream stream AIBRIDGE, docs/aibridge-bus.md): the
// record of each kind an AI gateway sends, the batch envelope, and the one validator both ends
// use. Gateways (through the bus client) validate before publishing; the recorder validates
// again on receipt and dead-letters what fails, so problems name the field and say what is
// wrong in words a gateway author can act on. Pure code: no other lib, no I/O.
import type { ValidationError } from './errors';

/**
 * Largest token count one record may carry (about 1.1e12, far beyond any model's window). It
 * keeps every sum the read API computes exact: a session's totals stay within 2^53 in JSON up
 * to 8,192 usages at the maximum, and within Postgres's bigint for millions.
 */
export const MAX_TOKEN_COUNT = 2 ** 40 - 1;

/** The record kinds; each travels on `{p}.aibridge.<kind>` or inside `{p}.aibridge.batch`. */
export const AIBRIDGE_KINDS = [
  'interception.started',
  'interception.ended',
  'usage.token',
  'usage.prompt',
  'usage.tool',
  'usage.thought',
] as const;
export type AibridgeKind = (typeof AIBRIDGE_KINDS)[number];

/** Provider types (the instance name is `provider_name`). */
export const AIBRIDGE_PROVIDERS = ['openai', 'anthropic', 'copilot'] as const;
export type AibridgeProvider = (typeof AIBRIDGE_PROVIDERS)[number];

export const AIBRIDGE_CREDENTIAL_KINDS = ['centralized', 'byok'] as const;
export type AibridgeCredentialKind = (typeof AIBRIDGE_CREDENTIAL_KINDS)[number];

/** Values of `metadata.source` on a model thought. */
export const AIBRIDGE_THOUGHT_SOURCES = ['thinking', 'reasoning_summary', 'commentary'] as const;
export type AibridgeThoughtSource = (typeof AIBRIDGE_THOUGHT_SOURCES)[number];

/**
 * Limits. String lengths count characters (Unicode code points, as Postgres `varchar(n)`
 * does). Prompts, thoughts, tool input and invocation errors have no cap of their own: the
 * NATS message size (1 MiB by default) bounds them.
 */
export const AIBRIDGE_LIMITS = {
  maxBatchRecords: 500,
  model: 256,
  providerName: 128,
  client: 64,
  clientSessionId: 256,
  credentialHint: 15,
  apiKeyId: 128,
  userAgent: 1024,
  correlatingToolCallId: 256,
  providerResponseId: 256,
  providerToolCallId: 256,
  providerItemId: 256,
  serverUrl: 2048,
  tool: 256,
  /** Nesting depth of `metadata` (objects and arrays). */
  metadataDepth: 32,
} as const;

/** A JSON object (never an array or null). */
export type AibridgeMetadata = Record<string, unknown>;

/** One problem found by the validator; `field` is a path such as `records[3].input_tokens`. */
export type AibridgeProblem = ValidationError;

// ---- Records as validated (defaults applied, optional fields omitted when absent) ----------

/** `interception.started`: one intercepted upstream LLM request began. */
export interface AibridgeInterceptionStarted {
  kind: 'interception.started';
  id: string;
  /** The user on whose behalf the request was made. */
  initiator_id: string;
  provider: AibridgeProvider;
  /** The provider instance (e.g. `copilot-business`); defaults to `provider`. */
  provider_name: string;
  model: string;
  started_at: string;
  metadata: AibridgeMetadata;
  /** The id of the API key the request authenticated with. */
  api_key_id: string;
  /** The detected client (e.g. `Claude Code`); defaults to `Unknown`. */
  client: string;
  /** May be empty when the request had none. */
  user_agent: string;
  client_session_id?: string;
  /** The last tool-call id the request answered: links it to the interception that made the call. */
  correlating_tool_call_id?: string;
  /** Absent: the recorder's default (`centralized`). */
  credential_kind?: AibridgeCredentialKind;
  /** A masked key such as `sk-a...efgh`; absent: empty. */
  credential_hint?: string;
}

/** `interception.ended`: `id` is the interception's id. */
export interface AibridgeInterceptionEnded {
  kind: 'interception.ended';
  id: string;
  ended_at: string;
}

/** `usage.token`: token usage of one provider response (an agentic loop sends several). */
export interface AibridgeTokenUsage {
  kind: 'usage.token';
  id: string;
  interception_id: string;
  /** The provider's message/response id; empty when the provider gave none. */
  provider_response_id: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
  metadata: AibridgeMetadata;
  created_at: string;
}

/** `usage.prompt`: the user prompt sent in one interception. */
export interface AibridgePromptUsage {
  kind: 'usage.prompt';
  id: string;
  interception_id: string;
  provider_response_id: string;
  prompt: string;
  metadata: AibridgeMetadata;
  created_at: string;
}

/** `usage.tool`: a tool call the model made (`injected`: an MCP tool the gateway ran itself). */
export interface AibridgeToolUsage {
  kind: 'usage.tool';
  id: string;
  interception_id: string;
  provider_response_id: string;
  provider_tool_call_id?: string;
  provider_item_id?: string;
  /** The MCP server of an injected tool; absent for a client-defined tool. */
  server_url?: string;
  tool: string;
  /** The call's arguments as JSON text, as the model produced them. */
  input: string;
  injected: boolean;
  /** Why an injected tool's invocation failed. */
  invocation_error?: string;
  metadata: AibridgeMetadata;
  created_at: string;
}

/** `usage.thought`: model reasoning; `metadata.source` says which kind. */
export interface AibridgeModelThought {
  kind: 'usage.thought';
  id: string;
  interception_id: string;
  content: string;
  metadata: AibridgeMetadata & { source?: AibridgeThoughtSource };
  created_at: string;
}

export interface AibridgeRecordMap {
  'interception.started': AibridgeInterceptionStarted;
  'interception.ended': AibridgeInterceptionEnded;
  'usage.token': AibridgeTokenUsage;
  'usage.prompt': AibridgePromptUsage;
  'usage.tool': AibridgeToolUsage;
  'usage.thought': AibridgeModelThought;
}

/** The validated record of kind K. */
export type AibridgeRecordOf<K extends AibridgeKind> = AibridgeRecordMap[K];
/** A validated record of any kind, discriminated by `kind`. */
export type AibridgeRecord = AibridgeRecordOf<AibridgeKind>;

// ---- What a sender may write (fields with defaults, and optional fields, may be left out or null)

/** A record as written: without `kind` (the subject or method names it), defaults optional, optional fields nullable. */
type Loosen<T, K extends keyof T> = Omit<T, K | 'kind'> & { [P in K]?: Exclude<T[P], undefined> | null };

export interface AibridgeInputMap {
  'interception.started': Loosen<
    AibridgeInterceptionStarted,
    | 'provider_name'
    | 'metadata'
    | 'client'
    | 'client_session_id'
    | 'correlating_tool_call_id'
    | 'credential_kind'
    | 'credential_hint'
  >;
  'interception.ended': Omit<AibridgeInterceptionEnded, 'kind'>;
  'usage.token': Loosen<AibridgeTokenUsage, 'metadata'>;
  'usage.prompt': Loosen<AibridgePromptUsage, 'metadata'>;
  'usage.tool': Loosen<
    AibridgeToolUsage,
    'metadata' | 'provider_tool_call_id' | 'provider_item_id' | 'server_url' | 'invocation_error'
  >;
  'usage.thought': Loosen<AibridgeModelThought, 'metadata'>;
}
export type AibridgeInput<K extends AibridgeKind> = AibridgeInputMap[K];

/** The payload of a single-record message on `{p}.aibridge.<kind>`. */
export type AibridgeRecordMessage<K extends AibridgeKind> = { v: 1 } & AibridgeInputMap[K];

/** A record inside a batch: tagged with its kind (`v` may be left out: the envelope has it). */
export type AibridgeBatchRecord = {
  [K in AibridgeKind]: { kind: K; v?: 1 } & AibridgeInputMap[K];
}[AibridgeKind];

/** The payload of `{p}.aibridge.batch`: up to 500 records of any kinds. */
export interface AibridgeBatchMessage {
  v: 1;
  /** The batch's own uuid: its message id is `batch:<id>`. */
  id: string;
  records: AibridgeBatchRecord[];
}

/** The Nats-Msg-Id of a single-record message (`<kind>:<id>`). */
export function aibridgeMessageId(kind: AibridgeKind | 'batch', id: string): string {
  return `${kind}:${id}`;
}

export function isAibridgeKind(value: unknown): value is AibridgeKind {
  return typeof value === 'string' && (AIBRIDGE_KINDS as readonly string[]).includes(value);
}

// ---- Validation ---------------------------------------------------------------------------

export type AibridgeValidation<K extends AibridgeKind = AibridgeKind> =
  { ok: true; record: AibridgeRecordOf<K> } | { ok: false; problems: AibridgeProblem[] };

/**
 * The result of parsing one message. A batch may be partly valid: `records` then holds its
 * valid records and `problems` names the invalid ones by index (`records[3].id`), so a
 * recorder can store the valid ones and dead-letter the message with the problems.
 */
export type AibridgeParseResult =
  | { ok: true; records: AibridgeRecord[]; batch_id?: string }
  | { ok: false; records: AibridgeRecord[]; problems: AibridgeProblem[]; batch_id?: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const TIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A short, safe rendering of a bad value for a problem's detail. */
function shown(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') {
    const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    return `the string ${s}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Why a string cannot be stored, or undefined. */
function unstorable(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain the character U+0000 (Postgres cannot store it)';
  if (LONE_SURROGATE_RE.test(s)) return 'must be well-formed Unicode (it contains a lone surrogate)';
  return undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Why the string is not an RFC 3339 timestamp of a real instant, or undefined. */
function badTime(s: string): string | undefined {
  const m = TIME_RE.exec(s);
  if (!m) return 'must be an RFC 3339 timestamp such as "2025-01-31T12:00:00.123Z"';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) return `has month ${m[2]}, which does not exist`;
  if (day < 1 || day > daysInMonth(year, month))
    return `has day ${m[3]}, which ${m[1]}-${m[2]} does not have`;
  if (hour > 23 || minute > 59 || second > 59)
    return `has time of day ${m[4]}:${m[5]}:${m[6]}, which does not exist`;
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59))
    return `has offset ${m[8]}${m[9]}:${m[10]}, which does not exist`;
  if (year <= 1) return 'is the zero time: set the real time';
  return undefined;
}

interface StrRule {
  max?: number;
  /** Empty is not allowed (for required fields). */
  nonEmpty?: boolean;
}

/** Reads the fields of one object, collecting problems under a path prefix. */
class Fields {
  readonly problems: AibridgeProblem[] = [];

  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly path: string,
  ) {}

  private name(field: string): string {
    return this.path ? `${this.path}.${field}` : field;
  }

  problem(field: string, detail: string): void {
    this.problems.push({ field: this.name(field), detail });
  }

  private has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  private missing(field: string): undefined {
    this.problem(field, this.obj[field] === null ? 'is required (got null)' : 'is required');
    return undefined;
  }

  private string(field: string, rule: StrRule): string | undefined {
    const v = this.obj[field];
    if (typeof v !== 'string') {
      this.problem(field, `must be a string, got ${shown(v)}`);
      return undefined;
    }
    const why = unstorable(v);
    if (why) {
      this.problem(field, why);
      return undefined;
    }
    if (rule.nonEmpty && v.length === 0) {
      this.problem(field, 'must not be empty');
      return undefined;
    }
    if (rule.max !== undefined) {
      const n = codePoints(v);
      if (n > rule.max) {
        this.problem(field, `must be at most ${rule.max} characters, got ${n}`);
        return undefined;
      }
    }
    return v;
  }

  str(field: string, rule: StrRule = {}): string | undefined {
    return this.has(field) ? this.string(field, rule) : this.missing(field);
  }

  /** An optional string: absent, null and empty all mean "none". */
  optStr(field: string, rule: StrRule = {}): string | undefined {
    if (!this.has(field) || this.obj[field] === '') return undefined;
    return this.string(field, rule);
  }

  /** A string with a default for absent, null and empty. */
  strOr(field: string, fallback: string | undefined, rule: StrRule = {}): string | undefined {
    if (!this.has(field) || this.obj[field] === '') return fallback;
    return this.string(field, rule);
  }

  uuid(field: string): string | undefined {
    if (!this.has(field)) return this.missing(field);
    const v = this.obj[field];
    if (typeof v !== 'string' || !UUID_RE.test(v)) {
      this.problem(field, `must be a uuid (8-4-4-4-12 hex digits), got ${shown(v)}`);
      return undefined;
    }
    if (v === NIL_UUID) {
      this.problem(field, 'must not be the nil uuid');
      return undefined;
    }
    return v.toLowerCase();
  }

  time(field: string): string | undefined {
    if (!this.has(field)) return this.missing(field);
    const v = this.obj[field];
    if (typeof v !== 'string') {
      this.problem(field, `must be an RFC 3339 timestamp string, got ${shown(v)}`);
      return undefined;
    }
    const why = badTime(v);
    if (why) {
      this.problem(field, `${why}, got ${shown(v)}`);
      return undefined;
    }
    return v;
  }

  count(field: string): number | undefined {
    if (!this.has(field)) return this.missing(field);
    const v = this.obj[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_TOKEN_COUNT) {
      this.problem(field, `must be a non-negative integer no larger than 2^40-1, got ${shown(v)}`);
      return undefined;
    }
    return v;
  }

  bool(field: string): boolean | undefined {
    if (!this.has(field)) return this.missing(field);
    const v = this.obj[field];
    if (typeof v !== 'boolean') {
      this.problem(field, `must be true or false, got ${shown(v)}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(field: string, values: readonly T[], optional = false): T | undefined {
    if (!this.has(field)) return optional ? undefined : this.missing(field);
    const v = this.obj[field];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.problem(field, `must be one of ${values.join(', ')}, got ${shown(v)}`);
      return undefined;
    }
    return v as T;
  }

  url(field: string, max: number): string | undefined {
    const v = this.optStr(field, { max });
    if (v === undefined) return undefined;
    let ok = false;
    try {
      const u = new URL(v);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) this.problem(field, `must be an absolute http(s) URL, got ${shown(v)}`);
    return ok ? v : undefined;
  }

  /** A JSON object; absent or null is `{}`. */
  metadata(field: string): AibridgeMetadata | undefined {
    if (!this.has(field)) return {};
    const v = this.obj[field];
    if (!isPlainObject(v)) {
      this.problem(field, `must be a JSON object, got ${shown(v)}`);
      return undefined;
    }
    const before = this.problems.length;
    this.json(v, field, 1);
    return this.problems.length === before ? v : undefined;
  }

  /** Checks that a metadata value is plain JSON that Postgres jsonb can store. */
  private json(v: unknown, at: string, depth: number): void {
    if (v === null || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) this.problem(at, `must be a finite number, got ${String(v)}`);
      return;
    }
    if (typeof v === 'string') {
      const why = unstorable(v);
      if (why) this.problem(at, why);
      return;
    }
    if (depth > AIBRIDGE_LIMITS.metadataDepth) {
      this.problem(at, `nests deeper than ${AIBRIDGE_LIMITS.metadataDepth} levels`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => this.json(item, `${at}[${i}]`, depth + 1));
      return;
    }
    if (isPlainObject(v)) {
      for (const [k, item] of Object.entries(v)) {
        const why = unstorable(k);
        if (why) this.problem(at, `has a key ${JSON.stringify(k.slice(0, 40))} that ${why}`);
        else if (item !== undefined) this.json(item, `${at}.${k}`, depth + 1);
      }
      return;
    }
    this.problem(
      at,
      `must be a JSON value (string, number, boolean, null, array or object), got ${shown(v)}`,
    );
  }
}

type Builder<K extends AibridgeKind> = (f: Fields) => Omit<AibridgeRecordMap[K], 'kind'> | undefined;

const L = AIBRIDGE_LIMITS;

function built<T>(f: Fields, rec: T): T | undefined {
  return f.problems.length === 0 ? rec : undefined;
}

/** Copies the defined values only, so absent optional fields stay absent. */
function compact<T extends object>(rec: T): T {
  return Object.fromEntries(Object.entries(rec).filter(([, v]) => v !== undefined)) as T;
}

const BUILDERS: { [K in AibridgeKind]: Builder<K> } = {
  'interception.started': (f) => {
    const provider = f.oneOf('provider', AIBRIDGE_PROVIDERS);
    const rec = {
      id: f.uuid('id'),
      initiator_id: f.uuid('initiator_id'),
      provider,
      provider_name: f.strOr('provider_name', provider, { max: L.providerName }),
      model: f.str('model', { nonEmpty: true, max: L.model }),
      started_at: f.time('started_at'),
      metadata: f.metadata('metadata'),
      api_key_id: f.str('api_key_id', { nonEmpty: true, max: L.apiKeyId }),
      client: f.strOr('client', 'Unknown', { max: L.client }),
      user_agent: f.str('user_agent', { max: L.userAgent }),
      client_session_id: f.optStr('client_session_id', { max: L.clientSessionId }),
      correlating_tool_call_id: f.optStr('correlating_tool_call_id', { max: L.correlatingToolCallId }),
      credential_kind: f.oneOf('credential_kind', AIBRIDGE_CREDENTIAL_KINDS, true),
      credential_hint: f.optStr('credential_hint', { max: L.credentialHint }),
    };
    return built(f, compact(rec) as Omit<AibridgeInterceptionStarted, 'kind'>);
  },
  'interception.ended': (f) =>
    built(f, { id: f.uuid('id'), ended_at: f.time('ended_at') } as Omit<AibridgeInterceptionEnded, 'kind'>),
  'usage.token': (f) =>
    built(f, {
      id: f.uuid('id'),
      interception_id: f.uuid('interception_id'),
      provider_response_id: f.str('provider_response_id', { max: L.providerResponseId }),
      input_tokens: f.count('input_tokens'),
      output_tokens: f.count('output_tokens'),
      cache_read_input_tokens: f.count('cache_read_input_tokens'),
      cache_write_input_tokens: f.count('cache_write_input_tokens'),
      metadata: f.metadata('metadata'),
      created_at: f.time('created_at'),
    } as Omit<AibridgeTokenUsage, 'kind'>),
  'usage.prompt': (f) =>
    built(f, {
      id: f.uuid('id'),
      interception_id: f.uuid('interception_id'),
      provider_response_id: f.str('provider_response_id', { max: L.providerResponseId }),
      prompt: f.str('prompt'),
      metadata: f.metadata('metadata'),
      created_at: f.time('created_at'),
    } as Omit<AibridgePromptUsage, 'kind'>),
  'usage.tool': (f) => {
    const rec = {
      id: f.uuid('id'),
      interception_id: f.uuid('interception_id'),
      provider_response_id: f.str('provider_response_id', { max: L.providerResponseId }),
      provider_tool_call_id: f.optStr('provider_tool_call_id', { max: L.providerToolCallId }),
      provider_item_id: f.optStr('provider_item_id', { max: L.providerItemId }),
      server_url: f.url('server_url', L.serverUrl),
      tool: f.str('tool', { nonEmpty: true, max: L.tool }),
      input: f.str('input'),
      injected: f.bool('injected'),
      invocation_error: f.optStr('invocation_error'),
      metadata: f.metadata('metadata'),
      created_at: f.time('created_at'),
    };
    if (rec.invocation_error !== undefined && rec.injected === false)
      f.problem('invocation_error', 'is only recorded for injected tools (injected is false)');
    return built(f, compact(rec) as Omit<AibridgeToolUsage, 'kind'>);
  },
  'usage.thought': (f) => {
    const metadata = f.metadata('metadata');
    const source = metadata?.source;
    if (
      source !== undefined &&
      source !== null &&
      !(AIBRIDGE_THOUGHT_SOURCES as readonly unknown[]).includes(source)
    )
      f.problem(
        'metadata.source',
        `must be one of ${AIBRIDGE_THOUGHT_SOURCES.join(', ')}, got ${shown(source)}`,
      );
    return built(f, {
      id: f.uuid('id'),
      interception_id: f.uuid('interception_id'),
      content: f.str('content'),
      metadata,
      created_at: f.time('created_at'),
    } as Omit<AibridgeModelThought, 'kind'>);
  },
};

function validateAt<K extends AibridgeKind>(
  kind: K,
  value: unknown,
  path: string,
  requireVersion: boolean,
): AibridgeValidation<K> {
  if (!isPlainObject(value)) {
    return {
      ok: false,
      problems: [{ field: path || '(record)', detail: `must be a JSON object, got ${shown(value)}` }],
    };
  }
  const f = new Fields(value, path);
  if (value.v === undefined) {
    if (requireVersion) f.problem('v', 'is required (the contract version, 1)');
  } else if (value.v !== 1) {
    f.problem('v', `must be 1 (the only contract version), got ${shown(value.v)}`);
  }
  if (value.kind !== undefined && value.kind !== kind)
    f.problem('kind', `must be ${JSON.stringify(kind)} (the subject's kind), got ${shown(value.kind)}`);
  const rec = (BUILDERS[kind] as Builder<K>)(f);
  if (!rec || f.problems.length > 0) return { ok: false, problems: f.problems };
  return { ok: true, record: { kind, ...rec } as AibridgeRecordOf<K> };
}

/**
 * Validates one record of `kind` (as a sender writes it; `v` and `kind` may be left out but
 * must be right when present) and returns it normalized: defaults applied, uuids lower-cased,
 * absent optional fields left out, unknown fields dropped.
 */
export function validateAibridgeRecord<K extends AibridgeKind>(
  kind: K,
  value: unknown,
): AibridgeValidation<K> {
  if (!isAibridgeKind(kind))
    return {
      ok: false,
      problems: [
        { field: 'kind', detail: `must be one of ${AIBRIDGE_KINDS.join(', ')}, got ${shown(kind)}` },
      ],
    };
  return validateAt(kind, value, '', false);
}

/**
 * Parses and validates the data of one message received on `{p}.aibridge.<subjectKind>`
 * (`subjectKind` is a record kind or `batch`).
 */
export function parseAibridgeMessage(
  subjectKind: AibridgeKind | 'batch',
  json: string | Uint8Array,
): AibridgeParseResult {
  let value: unknown;
  try {
    value = JSON.parse(
      typeof json === 'string' ? json : new TextDecoder('utf-8', { fatal: true }).decode(json),
    );
  } catch (e) {
    const detail = e instanceof SyntaxError ? `is not valid JSON: ${e.message}` : 'is not valid UTF-8';
    return { ok: false, records: [], problems: [{ field: '(message)', detail }] };
  }
  return parseAibridgeValue(subjectKind, value);
}

/** As parseAibridgeMessage, for a payload already decoded from JSON. */
export function parseAibridgeValue(subjectKind: AibridgeKind | 'batch', value: unknown): AibridgeParseResult {
  if (subjectKind === 'batch') return parseBatch(value);
  if (!isAibridgeKind(subjectKind))
    return {
      ok: false,
      records: [],
      problems: [
        { field: '(subject)', detail: `${shown(subjectKind)} is not an aibridge record kind or batch` },
      ],
    };
  const r = validateAt(subjectKind, value, '', true);
  return r.ok ? { ok: true, records: [r.record] } : { ok: false, records: [], problems: r.problems };
}

function parseBatch(value: unknown): AibridgeParseResult {
  if (!isPlainObject(value))
    return {
      ok: false,
      records: [],
      problems: [{ field: '(message)', detail: `must be a JSON object, got ${shown(value)}` }],
    };
  const f = new Fields(value, '');
  if (value.v !== 1)
    f.problem(
      'v',
      value.v === undefined ? 'is required (the contract version, 1)' : `must be 1, got ${shown(value.v)}`,
    );
  const batchId = f.uuid('id');
  const list = value.records;
  if (!Array.isArray(list)) {
    f.problem('records', `must be an array of records, got ${shown(list)}`);
  } else if (list.length === 0 || list.length > AIBRIDGE_LIMITS.maxBatchRecords) {
    f.problem('records', `must hold 1 to ${AIBRIDGE_LIMITS.maxBatchRecords} records, got ${list.length}`);
  }
  // An envelope problem makes the whole message unusable.
  if (f.problems.length > 0 || !Array.isArray(list))
    return { ok: false, records: [], problems: f.problems, batch_id: batchId };
  const records: AibridgeRecord[] = [];
  const problems: AibridgeProblem[] = [];
  list.forEach((item: unknown, i) => {
    const at = `records[${i}]`;
    const kind = isPlainObject(item) ? item.kind : undefined;
    if (!isAibridgeKind(kind)) {
      problems.push(
        isPlainObject(item)
          ? { field: `${at}.kind`, detail: `must be one of ${AIBRIDGE_KINDS.join(', ')}, got ${shown(kind)}` }
          : { field: at, detail: `must be a JSON object, got ${shown(item)}` },
      );
      return;
    }
    const r = validateAt(kind, item, at, false);
    if (r.ok) records.push(r.record);
    else problems.push(...r.problems);
  });
  return problems.length === 0
    ? { ok: true, records, batch_id: batchId }
    : { ok: false, records, problems, batch_id: batchId };
}

/** One line naming every problem, for errors and logs. */
export function describeAibridgeProblems(problems: AibridgeProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.detail}`).join('; ');
}
