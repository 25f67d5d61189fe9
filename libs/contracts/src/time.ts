// Timestamps on the wire follow Go's time.Time JSON: RFC 3339 in UTC, never omitted, and the
// zero time ("0001-01-01T00:00:00Z") for "never".
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function wireTime(d: Date | string | null | undefined): string {
  if (d === null || d === undefined) return ZERO_TIME;
  const date = typeof d === 'string' ? new Date(d) : d;
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() <= 1) return ZERO_TIME;
  return date.toISOString();
}
