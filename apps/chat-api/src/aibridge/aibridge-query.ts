// Query-string parsing for the AI Bridge read API: the `q` search language and the paging
// parameters of each endpoint. Pure code (the initiator's username is resolved by the caller),
// every problem collected as a {field, detail} so one 400 names them all.
//
// `q` is a space-separated list of `key:value` terms; a value may be double-quoted (needed
// for spaces). Only the first unquoted colon separates key from value, so unquoted times such
// as started_after:2025-01-01T00:00:00Z work too. Keys are case-insensitive, values are not.
// Terms without a key are joined with spaces into one value for the endpoint's default key
// (interceptions: initiator, models: model, clients: client); the sessions list has none and
// rejects them. A key given twice, an unknown key, an empty key or an empty unquoted value is
// an error. A quoted empty value ("") means "no filter", as the reference treats empty values.
import { AIBRIDGE_API_LIMITS, ValidationError } from '@agentmesh/contracts';
import { isUuid } from '@agentmesh/entities';
import { RawQuery, single } from '../http/query';

export type SearchKey =
  | 'initiator'
  | 'provider'
  | 'provider_name'
  | 'model'
  | 'client'
  | 'session_id'
  | 'started_after'
  | 'started_before';

export const INTERCEPTION_KEYS: readonly SearchKey[] = [
  'initiator',
  'provider',
  'provider_name',
  'model',
  'client',
  'started_after',
  'started_before',
];
export const SESSION_KEYS: readonly SearchKey[] = [...INTERCEPTION_KEYS, 'session_id'];

/** The filters shared by the interception and session lists (absent = not filtered). */
export interface AibridgeFilter {
  /** `me`, a uuid or a username, as written; the service resolves it to a user id. */
  initiator?: string;
  provider?: string;
  providerName?: string;
  model?: string;
  client?: string;
  sessionId?: string;
  /** RFC 3339 timestamps, inclusive bounds on started_at. */
  startedAfter?: string;
  startedBefore?: string;
}

/** Postgres text cannot hold NUL; such a value could never match, so it is refused. */
function checkText(field: string, value: string, problems: ValidationError[]): boolean {
  if (value.includes('\u0000')) {
    problems.push({ field, detail: `Query param "${field}" must not contain NUL characters` });
    return false;
  }
  return true;
}

/** Splits on whitespace outside double quotes. */
function splitOutsideQuotes(q: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of q) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** Index of the first colon outside double quotes, or -1. */
function firstUnquotedColon(s: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '"') quoted = !quoted;
    else if (s[i] === ':' && !quoted) return i;
  }
  return -1;
}

const unquote = (s: string) => s.replace(/"/g, '');

/**
 * Parses `q` into key → value. `defaultKey` receives bare terms (joined by spaces); with
 * none, bare terms are an error on field `q`.
 */
export function parseSearch(
  q: string,
  allowed: readonly string[],
  defaultKey: string | undefined,
  problems: ValidationError[],
): Map<string, string> {
  const out = new Map<string, string>();
  const bare: string[] = [];
  const seen = new Set<string>();
  const put = (key: string, value: string) => {
    if (!allowed.includes(key)) {
      problems.push({ field: key, detail: `Query param "${key}" is not a valid query param` });
      return;
    }
    if (seen.has(key)) {
      problems.push({ field: key, detail: `Query param "${key}" provided more than once` });
      return;
    }
    seen.add(key);
    if (checkText(key, value, problems) && value !== '') out.set(key, value);
  };
  for (const element of splitOutsideQuotes(q)) {
    const colon = firstUnquotedColon(element);
    if (colon < 0) {
      bare.push(unquote(element));
      continue;
    }
    const rawKey = element.slice(0, colon);
    const rawValue = element.slice(colon + 1);
    if (rawKey === '' || rawValue === '') {
      problems.push({ field: 'q', detail: `Query element "${element}" cannot start or end with ':'` });
      continue;
    }
    put(unquote(rawKey).toLowerCase(), unquote(rawValue));
  }
  const free = bare.filter(Boolean).join(' ');
  if (free) {
    if (defaultKey) put(defaultKey, free);
    else
      problems.push({
        field: 'q',
        detail: `Search term "${free}" has no key; use key:value (keys: ${allowed.join(', ')})`,
      });
  }
  return out;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const EARLIEST_MS = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  return d.getTime();
})();

/** Nanoseconds since the epoch of an RFC 3339 timestamp, or undefined when it is not one. */
export function rfc3339Nanos(value: string): bigint | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', , sign, oh, om] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  // setUTCFullYear (unlike Date.UTC) takes years below 100 literally.
  const check = new Date(0);
  check.setUTCFullYear(year, month - 1, day);
  check.setUTCHours(hour, minute, second, 0);
  const ms = check.getTime();
  // 2025-02-30 rolls over to March: a different day means the date does not exist.
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  if (sign && (Number(oh) > 23 || Number(om) > 59)) return undefined;
  const offsetMin = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) : 0;
  const utcMs = ms - offsetMin * 60_000;
  // Postgres has no year 0: the earliest instant is 0001-01-01T00:00:00Z.
  if (utcMs < EARLIEST_MS) return undefined;
  return BigInt(utcMs) * 1_000_000n + BigInt(Number(frac.padEnd(9, '0').slice(0, 9)) || 0);
}

/** The search filters of the interception (sessions: with session_id) lists. */
export function parseFilter(
  q: string,
  keys: readonly SearchKey[],
  defaultKey: SearchKey | undefined,
  problems: ValidationError[],
): AibridgeFilter {
  const terms = parseSearch(q, keys, defaultKey, problems);
  const filter: AibridgeFilter = {
    initiator: terms.get('initiator'),
    provider: terms.get('provider'),
    providerName: terms.get('provider_name'),
    model: terms.get('model'),
    client: terms.get('client'),
    sessionId: terms.get('session_id'),
  };
  const times: Partial<Record<'started_after' | 'started_before', bigint>> = {};
  for (const key of ['started_after', 'started_before'] as const) {
    const raw = terms.get(key);
    if (raw === undefined) continue;
    const nanos = rfc3339Nanos(raw);
    if (nanos === undefined) {
      problems.push({
        field: key,
        detail: `Query param "${key}" must be a valid RFC 3339 timestamp (e.g. 2006-01-02T15:04:05.999999999Z07:00), got "${raw}"`,
      });
      continue;
    }
    times[key] = nanos;
    const normalized = raw.toUpperCase();
    if (key === 'started_after') filter.startedAfter = normalized;
    else filter.startedBefore = normalized;
  }
  if (
    times.started_after !== undefined &&
    times.started_before !== undefined &&
    times.started_before <= times.started_after
  ) {
    problems.push({
      field: 'started_before',
      detail: 'Query param "started_before" must be after "started_after"',
    });
  }
  return filter;
}

// ---- Paging parameters ----------------------------------------------------------------------

/** A query parameter given at most once, safe text, or undefined when absent or empty. */
function nonEmpty(q: RawQuery, key: string, problems: ValidationError[]): string | undefined {
  const v = single(q, key, problems);
  if (v === undefined || !checkText(key, v, problems)) return undefined;
  return v === '' ? undefined : v;
}

function integer(q: RawQuery, key: string, problems: ValidationError[]): number | undefined {
  const raw = nonEmpty(q, key, problems);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    problems.push({ field: key, detail: `Query param "${key}" must be a valid non-negative integer` });
    return undefined;
  }
  return Number(raw);
}

function uuidParam(q: RawQuery, key: string, problems: ValidationError[]): string | undefined {
  const raw = nonEmpty(q, key, problems);
  if (raw === undefined) return undefined;
  if (!isUuid(raw)) {
    problems.push({ field: key, detail: `Query param "${key}" must be a valid uuid` });
    return undefined;
  }
  return raw.toLowerCase();
}

/** `limit`: 0 or absent = `def`; otherwise 1..max. */
function limitParam(q: RawQuery, def: number, max: number, problems: ValidationError[]): number {
  const n = integer(q, 'limit', problems);
  if (n === undefined || n === 0) return def;
  if (n > max) {
    problems.push({ field: 'limit', detail: `Query param "limit" must be in range (0, ${max}]` });
    return def;
  }
  return n;
}

export interface ListPage {
  limit: number;
  offset: number;
}

/** `limit` (default 100, max 1000) and `offset`. */
export function parseListPage(q: RawQuery, problems: ValidationError[]): ListPage {
  return {
    limit: limitParam(q, AIBRIDGE_API_LIMITS.listDefault, AIBRIDGE_API_LIMITS.listMax, problems),
    offset: integer(q, 'offset', problems) ?? 0,
  };
}

/** A list page plus a keyset cursor parameter that excludes `offset`. */
export function parseCursorPage<K extends string>(
  q: RawQuery,
  cursorKey: K,
  kind: 'uuid' | 'text',
  problems: ValidationError[],
): ListPage & { cursor?: string } {
  const page = parseListPage(q, problems);
  const cursor = kind === 'uuid' ? uuidParam(q, cursorKey, problems) : nonEmpty(q, cursorKey, problems);
  const cursorGiven = typeof q[cursorKey] === 'string' && q[cursorKey] !== '';
  if (cursorGiven && page.offset > 0) {
    problems.push({
      field: 'offset',
      detail: `Query params "${cursorKey}" and "offset" cannot be combined`,
    });
  }
  return { ...page, cursor };
}

export interface ThreadsPage {
  limit: number;
  afterId?: string;
  beforeId?: string;
}

/** `after_id` XOR `before_id` (uuids), `limit` 1..200 (default 50). */
export function parseThreadsPage(q: RawQuery, problems: ValidationError[]): ThreadsPage {
  let limit: number = AIBRIDGE_API_LIMITS.threadsDefault;
  const n = integer(q, 'limit', problems);
  if (n !== undefined) {
    if (n < 1 || n > AIBRIDGE_API_LIMITS.threadsMax)
      problems.push({
        field: 'limit',
        detail: `Query param "limit" must be between 1 and ${AIBRIDGE_API_LIMITS.threadsMax}`,
      });
    else limit = n;
  }
  const afterId = uuidParam(q, 'after_id', problems);
  const beforeId = uuidParam(q, 'before_id', problems);
  if (afterId && beforeId)
    problems.push({
      field: 'before_id',
      detail: 'Query params "after_id" and "before_id" cannot be combined',
    });
  return { limit, afterId, beforeId };
}

/** `q` given at most once. */
export function searchParam(q: RawQuery, problems: ValidationError[]): string {
  return nonEmpty(q, 'q', problems) ?? '';
}
