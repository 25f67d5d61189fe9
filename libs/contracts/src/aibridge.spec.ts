// The AI Bridge record validator: every kind normalizes with its defaults, unknown fields are
// dropped, and each bad input yields a problem naming the field and what is wrong; batches and
// single messages parse from JSON, a partly bad batch keeps its valid records.
import {
  AIBRIDGE_KINDS,
  MAX_TOKEN_COUNT,
  AibridgeKind,
  AibridgeProblem,
  aibridgeMessageId,
  describeAibridgeProblems,
  parseAibridgeMessage,
  parseAibridgeValue,
  validateAibridgeRecord,
} from './aibridge';

const ID = '6f1c2a4e-3b5d-4c7e-9f00-112233445566';
const ID2 = '0a7b8c9d-1e2f-4a3b-8c4d-5e6f7a8b9c0d';
const USER = '9e8d7c6b-5a4f-4e3d-b2c1-0f9e8d7c6b5a';
const AT = '2025-03-01T12:00:00.123456Z';

const samples: { [K in AibridgeKind]: Record<string, unknown> } = {
  'interception.started': {
    id: ID,
    initiator_id: USER,
    provider: 'anthropic',
    model: 'claude-sonnet-4-5',
    started_at: AT,
    api_key_id: 'kx1Ab2Cd3E',
    user_agent: 'claude-cli/2.0.1',
  },
  'interception.ended': { id: ID, ended_at: '2025-03-01T12:00:05+02:00' },
  'usage.token': {
    id: ID2,
    interception_id: ID,
    provider_response_id: 'msg_01',
    input_tokens: 120,
    output_tokens: 40,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 1024,
    created_at: AT,
  },
  'usage.prompt': {
    id: ID2,
    interception_id: ID,
    provider_response_id: 'msg_01',
    prompt: 'fix the failing test',
    created_at: AT,
  },
  'usage.tool': {
    id: ID2,
    interception_id: ID,
    provider_response_id: 'resp_9',
    tool: 'read_file',
    input: '{"path":"a.ts"}',
    injected: false,
    created_at: AT,
  },
  'usage.thought': {
    id: ID2,
    interception_id: ID,
    content: 'The test fails because…',
    metadata: { source: 'thinking' },
    created_at: AT,
  },
};

function problemsOf(kind: AibridgeKind, value: unknown): AibridgeProblem[] {
  const r = validateAibridgeRecord(kind, value);
  if (r.ok) throw new Error(`expected ${kind} to be invalid, got ${JSON.stringify(r.record)}`);
  return r.problems;
}

function fieldsOf(kind: AibridgeKind, value: unknown): string[] {
  return problemsOf(kind, value).map((p) => p.field);
}

describe('validateAibridgeRecord: valid records of each kind', () => {
  it('interception.started gets its defaults: provider_name = provider, client Unknown, metadata {}', () => {
    const r = validateAibridgeRecord('interception.started', samples['interception.started']);
    expect(r).toEqual({
      ok: true,
      record: {
        kind: 'interception.started',
        ...samples['interception.started'],
        provider_name: 'anthropic',
        client: 'Unknown',
        metadata: {},
      },
    });
  });

  it('interception.started keeps every optional field it is given', () => {
    const full = {
      ...samples['interception.started'],
      provider: 'copilot',
      provider_name: 'copilot-business',
      client: 'Claude Code',
      metadata: { request_user_agent: 'x', nested: { a: [1, 'two', null, true] } },
      client_session_id: 'sess-1',
      correlating_tool_call_id: 'toolu_01',
      credential_kind: 'byok',
      credential_hint: 'sk-a...efgh',
    };
    const r = validateAibridgeRecord('interception.started', full);
    expect(r).toEqual({ ok: true, record: { kind: 'interception.started', ...full } });
  });

  it('treats null and empty optional strings as absent, and null metadata as {}', () => {
    const r = validateAibridgeRecord('interception.started', {
      ...samples['interception.started'],
      provider_name: '',
      client: null,
      metadata: null,
      client_session_id: null,
      correlating_tool_call_id: '',
      credential_kind: null,
      credential_hint: '',
    });
    expect(r.ok && r.record).toEqual({
      kind: 'interception.started',
      ...samples['interception.started'],
      provider_name: 'anthropic',
      client: 'Unknown',
      metadata: {},
    });
  });

  it.each(AIBRIDGE_KINDS)(
    '%s validates, carries its kind and gets metadata {} where it has metadata',
    (kind) => {
      const r = validateAibridgeRecord(kind, samples[kind]);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.record.kind).toBe(kind);
      expect(r.record).toMatchObject(samples[kind]);
      if (kind !== 'interception.ended') expect(r.record).toHaveProperty('metadata');
    },
  );

  it('usage.tool keeps an injected tool with its server and invocation error', () => {
    const tool = {
      ...samples['usage.tool'],
      injected: true,
      server_url: 'https://mcp.example.com/sse',
      invocation_error: 'permission denied',
      provider_tool_call_id: 'call_1',
      provider_item_id: 'fc_1',
    };
    const r = validateAibridgeRecord('usage.tool', tool);
    expect(r).toEqual({ ok: true, record: { kind: 'usage.tool', ...tool, metadata: {} } });
  });

  it('accepts an empty provider_response_id (the provider gave none), prompt and thought', () => {
    expect(
      validateAibridgeRecord('usage.prompt', {
        ...samples['usage.prompt'],
        provider_response_id: '',
        prompt: '',
      }).ok,
    ).toBe(true);
    expect(validateAibridgeRecord('usage.thought', { ...samples['usage.thought'], content: '' }).ok).toBe(
      true,
    );
  });

  it('accepts a thought without a source', () => {
    expect(
      validateAibridgeRecord('usage.thought', { ...samples['usage.thought'], metadata: undefined }).ok,
    ).toBe(true);
  });

  it('drops unknown fields and a right v or kind', () => {
    const r = validateAibridgeRecord('interception.ended', {
      ...samples['interception.ended'],
      v: 1,
      kind: 'interception.ended',
      extra: 'ignored',
      another: { deep: true },
    });
    expect(r).toEqual({ ok: true, record: { kind: 'interception.ended', ...samples['interception.ended'] } });
  });

  it('lower-cases uuids so message ids and keys agree', () => {
    const r = validateAibridgeRecord('interception.ended', {
      ...samples['interception.ended'],
      id: ID.toUpperCase(),
    });
    expect(r.ok && r.record.id).toBe(ID);
  });

  it('accepts the largest token count and zero', () => {
    const r = validateAibridgeRecord('usage.token', {
      ...samples['usage.token'],
      input_tokens: MAX_TOKEN_COUNT,
      output_tokens: 0,
    });
    expect(r.ok && [r.record.input_tokens, r.record.output_tokens]).toEqual([2 ** 40 - 1, 0]);
  });

  it.each([
    '2025-03-01T12:00:00Z',
    '2025-03-01t12:00:00z',
    '2025-03-01T12:00:00.123456789Z',
    '2025-03-01T12:00:00-07:30',
    '2024-02-29T23:59:59Z',
  ])('accepts the RFC 3339 timestamp %s', (t) => {
    expect(validateAibridgeRecord('interception.ended', { id: ID, ended_at: t }).ok).toBe(true);
  });

  it('counts characters, not UTF-16 units, against the caps', () => {
    // 15 emoji are 30 UTF-16 units but 15 characters, which is what varchar(15) counts.
    const hint = '😀'.repeat(15);
    const r = validateAibridgeRecord('interception.started', {
      ...samples['interception.started'],
      credential_hint: hint,
    });
    expect(r.ok).toBe(true);
  });
});

describe('validateAibridgeRecord: bad input', () => {
  it('names every missing required field of each kind', () => {
    expect(fieldsOf('interception.started', {})).toEqual([
      'provider',
      'id',
      'initiator_id',
      'model',
      'started_at',
      'api_key_id',
      'user_agent',
    ]);
    expect(fieldsOf('interception.ended', {})).toEqual(['id', 'ended_at']);
    expect(fieldsOf('usage.token', {})).toEqual([
      'id',
      'interception_id',
      'provider_response_id',
      'input_tokens',
      'output_tokens',
      'cache_read_input_tokens',
      'cache_write_input_tokens',
      'created_at',
    ]);
    expect(fieldsOf('usage.prompt', {})).toEqual([
      'id',
      'interception_id',
      'provider_response_id',
      'prompt',
      'created_at',
    ]);
    expect(fieldsOf('usage.tool', {})).toEqual([
      'id',
      'interception_id',
      'provider_response_id',
      'tool',
      'input',
      'injected',
      'created_at',
    ]);
    expect(fieldsOf('usage.thought', {})).toEqual(['id', 'interception_id', 'content', 'created_at']);
    expect(problemsOf('interception.ended', {})[0].detail).toBe('is required');
    expect(problemsOf('interception.ended', { id: null, ended_at: AT })[0].detail).toBe(
      'is required (got null)',
    );
  });

  it.each([
    ['not an object', 'nope'],
    ['null', null],
    ['an array', [samples['interception.ended']]],
  ])('rejects a record that is %s', (_what, value) => {
    expect(problemsOf('interception.ended', value)).toEqual([
      { field: '(record)', detail: expect.stringMatching(/must be a JSON object/) },
    ]);
  });

  it('rejects an unknown kind', () => {
    const r = validateAibridgeRecord('usage.nope' as AibridgeKind, {});
    expect(r).toEqual({
      ok: false,
      problems: [{ field: 'kind', detail: expect.stringMatching(/must be one of/) }],
    });
  });

  type Case = [string, AibridgeKind, Record<string, unknown>, string, RegExp];
  const cases: Case[] = [
    ['a malformed uuid', 'interception.ended', { id: 'abc' }, 'id', /must be a uuid .*"abc"/],
    ['a uuid with braces', 'interception.ended', { id: `{${ID}}` }, 'id', /must be a uuid/],
    [
      'the nil uuid',
      'usage.prompt',
      { interception_id: '00000000-0000-0000-0000-000000000000' },
      'interception_id',
      /nil uuid/,
    ],
    ['a numeric id', 'usage.token', { id: 42 }, 'id', /must be a uuid .*number 42/],
    ['a date without time', 'interception.ended', { ended_at: '2025-03-01' }, 'ended_at', /RFC 3339/],
    [
      'a timestamp without zone',
      'interception.ended',
      { ended_at: '2025-03-01T12:00:00' },
      'ended_at',
      /RFC 3339/,
    ],
    [
      'a space instead of T',
      'interception.ended',
      { ended_at: '2025-03-01 12:00:00Z' },
      'ended_at',
      /RFC 3339/,
    ],
    ['month 13', 'interception.ended', { ended_at: '2025-13-01T12:00:00Z' }, 'ended_at', /month 13/],
    ['February 30', 'interception.ended', { ended_at: '2025-02-30T12:00:00Z' }, 'ended_at', /day 30/],
    [
      'February 29 of a common year',
      'interception.ended',
      { ended_at: '2100-02-29T00:00:00Z' },
      'ended_at',
      /day 29/,
    ],
    ['hour 24', 'interception.ended', { ended_at: '2025-03-01T24:00:00Z' }, 'ended_at', /time of day/],
    ['a leap second', 'interception.ended', { ended_at: '2025-06-30T23:59:60Z' }, 'ended_at', /time of day/],
    ['offset +25:00', 'interception.ended', { ended_at: '2025-03-01T12:00:00+25:00' }, 'ended_at', /offset/],
    ['the zero time', 'interception.ended', { ended_at: '0001-01-01T00:00:00Z' }, 'ended_at', /zero time/],
    [
      'epoch milliseconds',
      'usage.token',
      { created_at: 1740830400000 },
      'created_at',
      /timestamp string, got number/,
    ],
    ['negative tokens', 'usage.token', { input_tokens: -1 }, 'input_tokens', /non-negative integer.*-1/],
    ['fractional tokens', 'usage.token', { output_tokens: 1.5 }, 'output_tokens', /non-negative integer/],
    [
      'tokens as a string',
      'usage.token',
      { cache_read_input_tokens: '12' },
      'cache_read_input_tokens',
      /integer.*string "12"/,
    ],
    [
      'tokens beyond 2^40-1',
      'usage.token',
      { cache_write_input_tokens: 2 ** 40 },
      'cache_write_input_tokens',
      /2\^40-1, got number 1099511627776/,
    ],
    ['infinite tokens', 'usage.token', { input_tokens: Infinity }, 'input_tokens', /non-negative integer/],
    [
      'an unknown provider',
      'interception.started',
      { provider: 'gemini' },
      'provider',
      /openai, anthropic, copilot.*"gemini"/,
    ],
    ['a capitalized provider', 'interception.started', { provider: 'OpenAI' }, 'provider', /must be one of/],
    [
      'an unknown credential kind',
      'interception.started',
      { credential_kind: 'shared' },
      'credential_kind',
      /centralized, byok/,
    ],
    ['an empty model', 'interception.started', { model: '' }, 'model', /must not be empty/],
    [
      'a model of 257 characters',
      'interception.started',
      { model: 'm'.repeat(257) },
      'model',
      /at most 256 characters, got 257/,
    ],
    ['a client of 65 characters', 'interception.started', { client: 'c'.repeat(65) }, 'client', /at most 64/],
    [
      'a provider name of 129 characters',
      'interception.started',
      { provider_name: 'p'.repeat(129) },
      'provider_name',
      /at most 128/,
    ],
    [
      'a session id of 257 characters',
      'interception.started',
      { client_session_id: 's'.repeat(257) },
      'client_session_id',
      /at most 256/,
    ],
    [
      'a credential hint of 16 characters',
      'interception.started',
      { credential_hint: 'sk-ab...cdefghij' },
      'credential_hint',
      /at most 15/,
    ],
    ['an empty api key id', 'interception.started', { api_key_id: '' }, 'api_key_id', /must not be empty/],
    [
      'a numeric user agent',
      'interception.started',
      { user_agent: 7 },
      'user_agent',
      /must be a string, got number 7/,
    ],
    ['a model with U+0000', 'interception.started', { model: 'gpt\u0000' }, 'model', /U\+0000/],
    ['a prompt with a lone surrogate', 'usage.prompt', { prompt: 'a\ud800b' }, 'prompt', /lone surrogate/],
    ['metadata that is an array', 'usage.prompt', { metadata: [1] }, 'metadata', /JSON object, got an array/],
    [
      'metadata that is a string',
      'usage.prompt',
      { metadata: '{}' },
      'metadata',
      /JSON object, got the string/,
    ],
    ['metadata that is a Date', 'usage.prompt', { metadata: new Date() }, 'metadata', /JSON object/],
    ['metadata with NaN', 'usage.prompt', { metadata: { a: { b: NaN } } }, 'metadata.a.b', /finite number/],
    ['metadata with a function', 'usage.prompt', { metadata: { f: () => 1 } }, 'metadata.f', /JSON value/],
    [
      'metadata with U+0000 in a value',
      'usage.prompt',
      { metadata: { list: ['ok', 'x\u0000'] } },
      'metadata.list[1]',
      /U\+0000/,
    ],
    [
      'metadata with U+0000 in a key',
      'usage.prompt',
      { metadata: { 'k\u0000': 1 } },
      'metadata',
      /has a key .*U\+0000/,
    ],
    ['injected as a string', 'usage.tool', { injected: 'true' }, 'injected', /true or false/],
    [
      'input as an object',
      'usage.tool',
      { input: { path: 'a' } },
      'input',
      /must be a string, got an object/,
    ],
    [
      'an invocation error on a client tool',
      'usage.tool',
      { invocation_error: 'boom' },
      'invocation_error',
      /only recorded for injected tools/,
    ],
    ['a relative server url', 'usage.tool', { server_url: '/mcp' }, 'server_url', /absolute http\(s\) URL/],
    [
      'a non-http server url',
      'usage.tool',
      { server_url: 'file:///etc/passwd' },
      'server_url',
      /absolute http\(s\) URL/,
    ],
    ['an empty tool name', 'usage.tool', { tool: '' }, 'tool', /must not be empty/],
    [
      'an unknown thought source',
      'usage.thought',
      { metadata: { source: 'dream' } },
      'metadata.source',
      /thinking, reasoning_summary, commentary/,
    ],
    ['v 2', 'usage.prompt', { v: 2 }, 'v', /must be 1/],
    ['v "1"', 'usage.prompt', { v: '1' }, 'v', /must be 1.*string "1"/],
    ['another kind', 'usage.prompt', { kind: 'usage.token' }, 'kind', /must be "usage.prompt"/],
  ];

  it.each(cases)('rejects %s', (_what, kind, patch, field, detail) => {
    const problems = problemsOf(kind, { ...samples[kind], ...patch });
    expect(problems).toEqual([{ field, detail: expect.stringMatching(detail) }]);
  });

  it('rejects metadata nested deeper than 32 levels, and a circular one, without overflowing', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) deep = { n: deep };
    expect(problemsOf('usage.prompt', { ...samples['usage.prompt'], metadata: deep })[0].detail).toMatch(
      /deeper than 32/,
    );
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(problemsOf('usage.prompt', { ...samples['usage.prompt'], metadata: circular })[0].detail).toMatch(
      /deeper than 32/,
    );
  });

  it('reports every problem of a record at once', () => {
    const problems = problemsOf('usage.token', {
      ...samples['usage.token'],
      id: 'x',
      input_tokens: -5,
      created_at: 'yesterday',
    });
    expect(problems.map((p) => p.field)).toEqual(['id', 'input_tokens', 'created_at']);
    expect(describeAibridgeProblems(problems)).toMatch(
      /^id: must be a uuid.*; input_tokens: .*; created_at: .*RFC 3339/,
    );
  });

  it('does not echo long values in full', () => {
    const [p] = problemsOf('interception.ended', { ...samples['interception.ended'], id: 'z'.repeat(500) });
    expect(p.detail.length).toBeLessThan(120);
  });
});

describe('parseAibridgeMessage', () => {
  it('parses a single-record message from bytes and requires v', () => {
    const data = new TextEncoder().encode(JSON.stringify({ v: 1, ...samples['usage.token'] }));
    expect(parseAibridgeMessage('usage.token', data)).toEqual({
      ok: true,
      records: [{ kind: 'usage.token', ...samples['usage.token'], metadata: {} }],
    });
    expect(parseAibridgeMessage('usage.token', JSON.stringify(samples['usage.token']))).toEqual({
      ok: false,
      records: [],
      problems: [{ field: 'v', detail: expect.stringMatching(/is required/) }],
    });
  });

  it('rejects invalid JSON, invalid UTF-8 and an unknown subject kind', () => {
    expect(parseAibridgeMessage('usage.prompt', '{"v":1,')).toEqual({
      ok: false,
      records: [],
      problems: [{ field: '(message)', detail: expect.stringMatching(/not valid JSON/) }],
    });
    expect(parseAibridgeMessage('usage.prompt', new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject({
      ok: false,
      problems: [{ field: '(message)', detail: 'is not valid UTF-8' }],
    });
    expect(parseAibridgeMessage('usage.other' as AibridgeKind, '{}')).toMatchObject({
      ok: false,
      problems: [{ field: '(subject)' }],
    });
  });

  const batch = (records: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ v: 1, id: ID2, records, ...extra });

  it('parses a batch of mixed kinds in order, with the batch id', () => {
    const records = AIBRIDGE_KINDS.map((kind) => ({ kind, ...samples[kind] }));
    const r = parseAibridgeMessage('batch', batch(records));
    expect(r.ok).toBe(true);
    expect(r.batch_id).toBe(ID2);
    expect(r.records.map((x) => x.kind)).toEqual([...AIBRIDGE_KINDS]);
    expect(r.records[0]).toMatchObject({ provider_name: 'anthropic', client: 'Unknown' });
  });

  it('keeps the valid records of a partly bad batch and names the bad ones by index', () => {
    const r = parseAibridgeMessage(
      'batch',
      batch([
        { kind: 'interception.ended', ...samples['interception.ended'] },
        { kind: 'usage.token', ...samples['usage.token'], output_tokens: -1 },
        { kind: 'usage.nope', id: ID },
        { ...samples['usage.prompt'] },
        'a string',
        { kind: 'usage.prompt', ...samples['usage.prompt'], v: 1 },
      ]),
    );
    expect(r.ok).toBe(false);
    expect(r.records.map((x) => x.kind)).toEqual(['interception.ended', 'usage.prompt']);
    expect(!r.ok && r.problems).toEqual([
      { field: 'records[1].output_tokens', detail: expect.stringMatching(/non-negative/) },
      { field: 'records[2].kind', detail: expect.stringMatching(/must be one of.*"usage.nope"/) },
      { field: 'records[3].kind', detail: expect.stringMatching(/got nothing/) },
      { field: 'records[4]', detail: expect.stringMatching(/JSON object/) },
    ]);
  });

  it.each([
    ['a missing v', { v: undefined }, 'v'],
    ['v 2', { v: 2 }, 'v'],
    ['a bad batch id', { id: 'batch-1' }, 'id'],
    ['records that are not an array', { records: {} }, 'records'],
    ['no records', { records: [] }, 'records'],
  ])('rejects a batch envelope with %s and keeps none of its records', (_what, patch, field) => {
    const r = parseAibridgeMessage(
      'batch',
      batch([{ kind: 'interception.ended', ...samples['interception.ended'] }], patch),
    );
    expect(r).toMatchObject({ ok: false, records: [], problems: [{ field }] });
  });

  it('accepts 500 records and rejects 501', () => {
    const one = { kind: 'interception.ended', ...samples['interception.ended'] };
    expect(parseAibridgeMessage('batch', batch(Array(500).fill(one))).ok).toBe(true);
    expect(parseAibridgeMessage('batch', batch(Array(501).fill(one)))).toMatchObject({
      ok: false,
      records: [],
      problems: [{ field: 'records', detail: 'must hold 1 to 500 records, got 501' }],
    });
  });

  it('parseAibridgeValue takes a payload already decoded (as the consume loop hands it over)', () => {
    expect(parseAibridgeValue('interception.ended', { v: 1, ...samples['interception.ended'] })).toEqual({
      ok: true,
      records: [{ kind: 'interception.ended', ...samples['interception.ended'] }],
    });
    expect(parseAibridgeValue('batch', { v: 1, id: ID2, records: [] })).toMatchObject({ ok: false });
    expect(parseAibridgeValue('usage.token', null)).toMatchObject({
      ok: false,
      problems: [{ field: '(record)' }],
    });
  });

  it('rejects a batch that is not an object', () => {
    expect(parseAibridgeMessage('batch', '[]')).toMatchObject({
      ok: false,
      problems: [{ field: '(message)' }],
    });
  });
});

describe('aibridgeMessageId', () => {
  it('is <kind>:<id>', () => {
    expect(aibridgeMessageId('usage.token', ID)).toBe(`usage.token:${ID}`);
    expect(aibridgeMessageId('batch', ID2)).toBe(`batch:${ID2}`);
  });
});
