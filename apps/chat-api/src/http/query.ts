// Query-string parsing shared by list endpoints: pagination (limit/offset/after_id, never
// both cursors) and the `q` search language (`key:value` terms and free text, values may be
// quoted). Every problem is reported at once as 400 "Query parameters have invalid values."
import { ValidationError } from '@agentmesh/contracts';
import { isUuid } from '@agentmesh/entities';
import { ApiError } from './api-error';

export type RawQuery = Record<string, unknown>;

export interface Pagination {
  limit: number;
  offset: number;
  afterId?: string;
}

/** A query parameter given at most once, as a string; undefined (and a problem) otherwise. */
export function single(q: RawQuery, key: string, problems: ValidationError[]): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    problems.push({ field: key, detail: `Query param "${key}" must be given once` });
    return undefined;
  }
  return v;
}

function nonNegativeInt(
  q: RawQuery,
  key: string,
  problems: ValidationError[],
  max?: number,
): number | undefined {
  const raw = single(q, key, problems);
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    problems.push({ field: key, detail: `Query param "${key}" must be a valid non-negative integer` });
    return undefined;
  }
  const n = Number(raw);
  if (max !== undefined && n > max) {
    problems.push({ field: key, detail: `Query param "${key}" must be at most ${max}` });
    return undefined;
  }
  return n;
}

export function parsePagination(
  q: RawQuery,
  opts: { defaultLimit: number; maxLimit: number },
  problems: ValidationError[],
): Pagination {
  const limit = nonNegativeInt(q, 'limit', problems, opts.maxLimit);
  const offset = nonNegativeInt(q, 'offset', problems) ?? 0;
  const afterId = single(q, 'after_id', problems);
  if (afterId !== undefined && afterId !== '' && !isUuid(afterId)) {
    problems.push({ field: 'after_id', detail: 'Query param "after_id" must be a valid uuid' });
  }
  if (afterId && offset > 0)
    problems.push({ field: 'offset', detail: 'Query params "after_id" and "offset" cannot be combined' });
  return { limit: limit || opts.defaultLimit, offset, afterId: afterId || undefined };
}

/** The `q` parameter (at most once). */
export function searchParam(q: RawQuery, problems: ValidationError[]): string {
  return single(q, 'q', problems) ?? '';
}

/** Splits `q` into terms; bare words are collected under `search`. */
export function parseSearchQuery(
  q: string,
  allowedKeys: readonly string[],
  problems: ValidationError[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /(\S+?):"([^"]*)"|(\S+?):(\S+)|"([^"]*)"|(\S+)/g;
  for (const m of q.matchAll(re)) {
    const key = (m[1] ?? m[3])?.toLowerCase();
    const value = m[2] ?? m[4] ?? m[5] ?? m[6] ?? '';
    if (key === undefined) {
      out.set('search', [...(out.get('search') ?? []), value]);
      continue;
    }
    if (!allowedKeys.includes(key)) {
      problems.push({ field: key, detail: `Query param "${key}" is not a valid query param` });
      continue;
    }
    out.set(key, [...(out.get(key) ?? []), ...value.split(',').filter(Boolean)]);
  }
  return out;
}

export function throwIfProblems(problems: ValidationError[]): void {
  if (problems.length > 0) throw ApiError.badQuery(problems);
}
