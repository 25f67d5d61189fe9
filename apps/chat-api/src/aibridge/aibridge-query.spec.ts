// The AI Bridge `q` language and paging parameters, without a server.
import { ValidationError } from '@agentmesh/contracts';
import {
  INTERCEPTION_KEYS,
  parseCursorPage,
  parseFilter,
  parseSearch,
  parseThreadsPage,
  rfc3339Nanos,
  SESSION_KEYS,
} from './aibridge-query';

const fields = (problems: ValidationError[]) => problems.map((p) => p.field);

describe('rfc3339Nanos', () => {
  it('reads RFC 3339 with offsets and up to nanoseconds', () => {
    const utc = rfc3339Nanos('2025-03-01T10:05:00.123456789Z');
    expect(utc).toBe(BigInt(Date.UTC(2025, 2, 1, 10, 5, 0)) * 1_000_000n + 123_456_789n);
    expect(rfc3339Nanos('2025-03-01t11:05:00.123456789+01:00')).toBe(utc);
    expect(rfc3339Nanos('2025-03-01T05:05:00.123456789-05:00')).toBe(utc);
    expect(rfc3339Nanos('2024-02-29T00:00:00z')).toBe(BigInt(Date.UTC(2024, 1, 29)) * 1_000_000n);
    expect(rfc3339Nanos('0025-06-01T00:00:00Z')).toBeLessThan(0n);
    expect(rfc3339Nanos('0001-01-01T00:00:00Z')).toBeLessThan(0n);
  });

  it('refuses what is not a real instant', () => {
    for (const bad of [
      '2025-02-29T00:00:00Z',
      '2025-02-30T00:00:00Z',
      '2025-13-01T00:00:00Z',
      '2025-01-01T24:00:00Z',
      '2025-01-01T00:60:00Z',
      '2025-01-01T00:00:60Z',
      '2025-01-01T00:00:00',
      '2025-01-01 00:00:00Z',
      '2025-01-01T00:00:00.Z',
      '2025-01-01T00:00:00.1234567890Z',
      '2025-01-01T00:00:00+24:00',
      '2025-01-01',
      'yesterday',
      // Postgres has no year 0.
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:30:00+01:00',
    ])
      expect({ bad, v: rfc3339Nanos(bad) }).toEqual({ bad, v: undefined });
  });
});

describe('parseSearch', () => {
  it('splits key:value terms, unquotes values, lowercases keys and routes bare terms', () => {
    const problems: ValidationError[] = [];
    const terms = parseSearch(
      'Model:"gpt 4" client:"Claude Code" started_after:2025-01-01T00:00:00Z fix  bug',
      ['model', 'client', 'started_after', 'initiator'],
      'initiator',
      problems,
    );
    expect(problems).toEqual([]);
    expect(Object.fromEntries(terms)).toEqual({
      model: 'gpt 4',
      client: 'Claude Code',
      started_after: '2025-01-01T00:00:00Z',
      initiator: 'fix bug',
    });
  });

  it('reports unknown, repeated and malformed terms, and bare terms without a default key', () => {
    const problems: ValidationError[] = [];
    parseSearch('a:1 model:x model:y :z w: bare', ['model'], undefined, problems);
    expect(fields(problems)).toEqual(['a', 'model', 'q', 'q', 'q']);
  });

  it('treats a quoted empty value as no filter', () => {
    const problems: ValidationError[] = [];
    expect(parseSearch('model:""', ['model'], undefined, problems).size).toBe(0);
    expect(problems).toEqual([]);
  });
});

describe('parseFilter', () => {
  it('keeps start bounds as given and requires before > after', () => {
    const problems: ValidationError[] = [];
    const f = parseFilter(
      'started_after:2025-01-01t00:00:00z started_before:"2025-01-01T00:00:00.000000001Z"',
      INTERCEPTION_KEYS,
      'initiator',
      problems,
    );
    expect(problems).toEqual([]);
    expect(f).toMatchObject({
      startedAfter: '2025-01-01T00:00:00Z',
      startedBefore: '2025-01-01T00:00:00.000000001Z',
    });
    const equal: ValidationError[] = [];
    parseFilter(
      'started_after:2025-01-01T01:00:00+01:00 started_before:2025-01-01T00:00:00Z',
      SESSION_KEYS,
      undefined,
      equal,
    );
    expect(fields(equal)).toEqual(['started_before']);
  });
});

describe('paging parameters', () => {
  it('limit 0 means the default; cursor and offset exclude each other', () => {
    const problems: ValidationError[] = [];
    expect(parseCursorPage({ limit: '0' }, 'after_id', 'uuid', problems)).toEqual({ limit: 100, offset: 0 });
    expect(parseCursorPage({ limit: '1000', offset: '5' }, 'after_id', 'uuid', problems)).toEqual({
      limit: 1000,
      offset: 5,
    });
    expect(problems).toEqual([]);
    const bad: ValidationError[] = [];
    parseCursorPage({ limit: '1001', after_session_id: 's', offset: '1' }, 'after_session_id', 'text', bad);
    expect(fields(bad)).toEqual(['limit', 'offset']);
  });

  it('threads: limit 1..200, default 50, after_id XOR before_id', () => {
    const problems: ValidationError[] = [];
    expect(parseThreadsPage({}, problems)).toEqual({ limit: 50 });
    const bad: ValidationError[] = [];
    parseThreadsPage({ limit: '0', after_id: 'x', before_id: '00000000-0000-4000-8000-000000000001' }, bad);
    expect(fields(bad)).toEqual(['limit', 'after_id']);
  });
});
