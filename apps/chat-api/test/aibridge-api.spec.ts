// The AI Bridge read API against a real chat-api and Postgres. The recorder that normally
// writes the aibridge tables is another app, so the fixtures go straight into them with SQL:
// several users (and an initiator with no user row), provider types and instances, clients,
// sessions keyed by a client session id (one shared by two users), by a thread root and by a
// lone interception, a session whose first two interceptions start together, and in-flight
// rows that every read must ignore. Covers every filter and cursor, the session enrichment,
// a session's threads, RBAC, has_ai_seat, and a 400 naming the field for each bad input.
import { Client } from 'pg';
import {
  AgentmeshClient,
  AIBridgeInterception,
  AIBridgeListInterceptionsResponse,
  AIBridgeListSessionsResponse,
  AIBridgeSession,
  AIBridgeSessionThreadsResponse,
  ApiErrorBody,
} from '@agentmesh/contracts';
import { createDataSource } from '@agentmesh/db';
import { expandRoles, Role, SCOPE_ALL } from '@agentmesh/rbac';
import { AuthContext } from '../src/auth/auth.types';
import { AibridgeService } from '../src/aibridge/aibridge.service';
import { setupOwner, useChatApi } from './harness';

const h = useChatApi({ LOGIN_RATE_LIMIT_ACCOUNT: '1000', LOGIN_RATE_LIMIT_IP: '1000' });

const BASE = '/api/v2/aibridge';
const BAD_QUERY = 'Query parameters have invalid values.';
const BAD_CURSOR = 'Invalid pagination cursor.';
const GHOST = '99999999-9999-4999-8999-999999999999';

const s = {} as {
  db: Client;
  owner: AgentmeshClient;
  ownerId: string;
  orgId: string;
  alice: AgentmeshClient;
  aliceId: string;
  bob: AgentmeshClient;
  bobId: string;
  carolId: string;
  audrey: AgentmeshClient;
  audreyId: string;
};

/** Deterministic ids: a larger n sorts later (ids break ties in descending orders). */
const uid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** Fixture time: minutes, seconds and microseconds after 2025-03-01T10:00:00Z, as Go prints it. */
function T(min: number, sec = 0, micros = 0): string {
  const d = new Date(Date.UTC(2025, 2, 1, 10, min, sec));
  const base = d.toISOString().slice(0, 19);
  const frac = micros ? `.${String(micros).padStart(6, '0').replace(/0+$/, '')}` : '';
  return `${base}${frac}Z`;
}

const I = {
  // S1: alice, client session "cs-alpha": thread I1 (+ child I2) and thread I3.
  I1: uid(0x11),
  I2: uid(0x12),
  I3: uid(0x13),
  // S2: alice, no client session id: root R2 and its child C2 (C2b in flight).
  R2: uid(0x21),
  C2: uid(0x22),
  C2b: uid(0x23),
  // S3: bob, also "cs-alpha" (another pair).
  B3: uid(0x31),
  // S4: bob, lone interception with a NULL client.
  B4: uid(0x41),
  // S5: owner, lone, provider instance "chatgpt".
  O5: uid(0x51),
  // S6: an initiator with no user row.
  G6: uid(0x61),
  // S7: bob, lone, starts with S5.
  B7: uid(0x71),
  // S8: owner, "cs-tie": two roots starting at the same instant.
  O8a: uid(0x81),
  O8b: uid(0x82),
  // In flight.
  A9: uid(0x91),
  B9: uid(0x92),
  K9: uid(0x93),
};

/** Completed interceptions in list order (started_at DESC, id DESC). */
const ALL_ORDER = [I.O8b, I.O8a, I.G6, I.B7, I.O5, I.B4, I.C2, I.R2, I.I3, I.I2, I.I1, I.B3];
/** Sessions in list order: (first start DESC, session_id DESC, initiator DESC) as [id, initiator]. */
let SESSION_ORDER: [string, string][];

interface Fixture {
  id: string;
  initiator: string;
  provider: string;
  providerName: string;
  model: string;
  client: string | null;
  started: string;
  ended: string | null;
  root?: string;
  csid?: string;
  metadata?: unknown;
  apiKeyId?: string;
  kind?: 'centralized' | 'byok';
  hint?: string;
}

async function insertInterception(f: Fixture): Promise<void> {
  await s.db.query(
    `INSERT INTO aibridge_interceptions (id, initiator_id, provider, provider_name, model, client, started_at,
       ended_at, thread_root_id, thread_parent_id, client_session_id, metadata, api_key_id, credential_kind, credential_hint)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14)`,
    [
      f.id,
      f.initiator,
      f.provider,
      f.providerName,
      f.model,
      f.client,
      f.started,
      f.ended,
      f.root ?? null,
      f.csid ?? null,
      f.metadata === undefined ? null : JSON.stringify(f.metadata),
      f.apiKeyId ?? null,
      f.kind ?? 'centralized',
      f.hint ?? '',
    ],
  );
}

async function tokenUsage(
  id: number,
  interception: string,
  [input, output, cacheRead, cacheWrite]: number[],
  created: string,
  metadata?: unknown,
): Promise<void> {
  await s.db.query(
    `INSERT INTO aibridge_token_usages (id, interception_id, provider_response_id, input_tokens, output_tokens,
       cache_read_input_tokens, cache_write_input_tokens, metadata, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      uid(id),
      interception,
      `resp-${id.toString(16)}`,
      input,
      output,
      cacheRead ?? 0,
      cacheWrite ?? 0,
      metadata === undefined ? null : JSON.stringify(metadata),
      created,
    ],
  );
}

async function prompt(id: number, interception: string, text: string, created: string): Promise<void> {
  await s.db.query(
    `INSERT INTO aibridge_user_prompts (id, interception_id, provider_response_id, prompt, metadata, created_at)
     VALUES ($1, $2, $3, $4, '{"k":"v"}', $5)`,
    [uid(id), interception, `resp-${id.toString(16)}`, text, created],
  );
}

async function addUser(name: string): Promise<{ client: AgentmeshClient; id: string }> {
  const user = await s.owner.createUser({
    email: `${name}@example.com`,
    username: name,
    name: `${name[0].toUpperCase()}${name.slice(1)} Example`,
    password: `${name} password 1`,
    user_status: 'active',
    organization_ids: [s.orgId],
  });
  const client = h.client();
  await client.login({ email: `${name}@example.com`, password: `${name} password 1` });
  return { client, id: user.id };
}

beforeAll(async () => {
  const o = await setupOwner(h);
  Object.assign(s, { owner: o.client, ownerId: o.userId, orgId: o.orgId });
  const alice = await addUser('alice');
  const bob = await addUser('bob');
  const carol = await addUser('carol');
  const audrey = await addUser('audrey');
  await s.owner.updateUserRoles('audrey', ['auditor']);
  Object.assign(s, {
    alice: alice.client,
    aliceId: alice.id,
    bob: bob.client,
    bobId: bob.id,
    carolId: carol.id,
    audrey: audrey.client,
    audreyId: audrey.id,
  });
  s.db = new Client({ connectionString: h.db.url });
  await s.db.connect();

  const anthropic = { provider: 'anthropic', providerName: 'anthropic' };
  const openai = { provider: 'openai', providerName: 'openai' };
  const fixtures: Fixture[] = [
    {
      id: I.I1,
      initiator: s.aliceId,
      ...anthropic,
      model: 'claude-sonnet-4',
      client: 'Claude Code',
      started: T(1),
      ended: T(1, 30),
      csid: 'cs-alpha',
      metadata: { request_user_agent: 'claude-cli/1.0' },
      apiKeyId: 'key-alice',
      kind: 'byok',
      hint: 'sk-a...efgh',
    },
    {
      id: I.I2,
      initiator: s.aliceId,
      ...anthropic,
      model: 'claude-sonnet-4',
      client: 'Claude Code',
      started: T(2),
      ended: T(2, 40),
      root: I.I1,
      csid: 'cs-alpha',
    },
    {
      id: I.I3,
      initiator: s.aliceId,
      ...openai,
      model: 'gpt-4o',
      client: 'Claude Code',
      started: T(5, 0, 123456),
      ended: T(6),
      csid: 'cs-alpha',
      metadata: { n: 3 },
    },
    {
      id: I.R2,
      initiator: s.aliceId,
      ...openai,
      model: 'gpt-4o',
      client: 'Codex',
      started: T(10),
      ended: T(10, 50),
    },
    {
      id: I.C2,
      initiator: s.aliceId,
      ...openai,
      model: 'gpt-4o-mini',
      client: 'Codex',
      started: T(11),
      ended: T(11, 20),
      root: I.R2,
    },
    {
      id: I.C2b,
      initiator: s.aliceId,
      ...openai,
      model: 'gpt-4o-mini',
      client: 'Codex',
      started: T(12),
      ended: null,
      root: I.R2,
    },
    {
      id: I.B3,
      initiator: s.bobId,
      provider: 'copilot',
      providerName: 'copilot-business',
      model: 'gpt-4.1',
      client: 'GitHub Copilot (VS Code)',
      started: T(0, 30),
      ended: T(0, 45),
      csid: 'cs-alpha',
    },
    {
      id: I.B4,
      initiator: s.bobId,
      ...anthropic,
      model: 'claude-haiku',
      client: null,
      started: T(30),
      ended: T(30, 5),
    },
    {
      id: I.O5,
      initiator: s.ownerId,
      provider: 'openai',
      providerName: 'chatgpt',
      model: 'gpt-5',
      client: 'Codex',
      started: T(40),
      ended: T(41),
    },
    {
      id: I.G6,
      initiator: GHOST,
      ...openai,
      model: 'gpt-4o',
      client: 'Unknown',
      started: T(45),
      ended: T(46),
    },
    {
      id: I.B7,
      initiator: s.bobId,
      ...openai,
      model: 'gpt-5',
      client: 'Codex',
      started: T(40),
      ended: T(40, 10),
    },
    {
      id: I.O8a,
      initiator: s.ownerId,
      ...openai,
      model: 'gpt-4o',
      client: 'Codex',
      started: T(60),
      ended: T(61),
      csid: 'cs-tie',
    },
    {
      id: I.O8b,
      initiator: s.ownerId,
      ...openai,
      model: 'gpt-4o',
      client: 'Codex',
      started: T(60),
      ended: T(62),
      csid: 'cs-tie',
    },
    {
      id: I.A9,
      initiator: s.aliceId,
      ...openai,
      model: 'in-flight-model',
      client: 'Claude Code',
      started: T(50),
      ended: null,
      csid: 'cs-alpha',
    },
    { id: I.B9, initiator: s.bobId, ...openai, model: 'gpt-5', client: 'Codex', started: T(55), ended: null },
    { id: I.K9, initiator: s.carolId, ...openai, model: 'gpt-5', client: 'Zed', started: T(70), ended: null },
  ];
  for (const f of fixtures) await insertInterception(f);

  await tokenUsage(0x111, I.I1, [100, 20, 5, 1], T(1, 10), { cache_read_input: 5, nested: { reasoning: 3 } });
  await tokenUsage(0x112, I.I1, [50, 10, 0, 0], T(1, 20), { cache_read_input: 0, label: 'x', ratio: 0.5 });
  await tokenUsage(0x113, I.I2, [30, 5, 2, 0], T(2, 10), { nested: { reasoning: 4 } });
  await tokenUsage(0x114, I.I3, [10, 1, 0, 0], T(5, 30));
  await tokenUsage(0x115, I.R2, [7, 3, 0, 0], T(10, 10));
  await tokenUsage(0x116, I.C2, [4, 2, 0, 0], T(11, 5));
  await tokenUsage(0x117, I.C2b, [1000, 1000, 0, 0], T(12, 5));
  await tokenUsage(0x118, I.O5, [9, 9, 0, 0], T(40, 30));
  await tokenUsage(0x119, I.A9, [500, 500, 0, 0], T(50, 30));

  await prompt(0x211, I.I1, 'fix the bug', T(1, 5));
  await prompt(0x213, I.I3, 'now add tests', T(5, 10));
  await prompt(0x219, I.A9, 'in flight prompt', T(50, 1));
  await prompt(0x221, I.R2, 'summarize repo', T(10, 5));
  await prompt(0x222, I.C2, 'child prompt', T(11, 3));

  await s.db.query(
    `INSERT INTO aibridge_tool_usages (id, interception_id, provider_response_id, provider_tool_call_id, server_url,
       tool, input, injected, invocation_error, metadata, created_at)
     VALUES ($1, $2, 'resp-111', 'call_1', NULL, 'read_file', '{"path":"a.go"}', false, NULL, NULL, $3),
            ($4, $5, 'resp-113', 'call_2', 'https://mcp.example/sse', 'bmcp_search', '{"q":"x"}', true, 'boom', '{"m":1}', $6)`,
    [uid(0x311), I.I1, T(1, 15), uid(0x312), I.I2, T(2, 15)],
  );
  await s.db.query(
    `INSERT INTO aibridge_model_thoughts (id, interception_id, content, metadata, created_at)
     VALUES ($1, $2, 'plan', '{"source":"thinking"}', $3), ($4, $5, 'Let me look', NULL, $6),
            ($7, $5, 'then search', NULL, $8)`,
    [uid(0x411), I.I1, T(1, 12), uid(0x412), I.I2, T(2, 12), uid(0x413), T(2, 13)],
  );
  // Keep the visibility map current so the plans are the index-only ones the bench sees.
  await s.db.query('VACUUM ANALYZE aibridge_interceptions');

  SESSION_ORDER = [
    ['cs-tie', s.ownerId],
    [I.G6, GHOST],
    [I.B7, s.bobId],
    [I.O5, s.ownerId],
    [I.B4, s.bobId],
    [I.R2, s.aliceId],
    ['cs-alpha', s.aliceId],
    ['cs-alpha', s.bobId],
  ];
});

afterAll(async () => {
  await s.db?.end();
});

// ---- helpers ---------------------------------------------------------------------------------

async function ok<T>(c: AgentmeshClient, path: string): Promise<T> {
  const res = await c.raw('GET', path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as T;
}

/** Asserts a 400 whose validations name exactly `fields`. */
async function bad(c: AgentmeshClient, path: string, fields: string[], message = BAD_QUERY): Promise<void> {
  const res = await c.raw('GET', path);
  expect({ path, status: res.status }).toEqual({ path, status: 400 });
  const body = res.body as ApiErrorBody;
  expect(body.message).toBe(message);
  expect(body.validations?.map((v) => v.field)).toEqual(fields);
  for (const v of body.validations ?? []) expect(v.detail).toEqual(expect.any(String));
}

const q = (query: string) => encodeURIComponent(query);

async function interceptions(c: AgentmeshClient, params = ''): Promise<AIBridgeListInterceptionsResponse> {
  return ok(c, `${BASE}/interceptions${params ? `?${params}` : ''}`);
}

async function sessions(c: AgentmeshClient, params = ''): Promise<AIBridgeListSessionsResponse> {
  return ok(c, `${BASE}/sessions${params ? `?${params}` : ''}`);
}

const ids = (r: AIBridgeListInterceptionsResponse) => r.results.map((x) => x.id);
const pairs = (r: AIBridgeListSessionsResponse) => r.sessions.map((x) => [x.id, x.initiator.id]);

function user(id: string, name: string) {
  return { id, username: name, name: `${name[0].toUpperCase()}${name.slice(1)} Example` };
}

// ---- GET /interceptions ----------------------------------------------------------------------

describe('GET /interceptions', () => {
  it('lists completed interceptions newest first with their children, in codersdk shape', async () => {
    const res = await interceptions(s.owner);
    expect(res.count).toBe(12);
    expect(ids(res)).toEqual(ALL_ORDER);
    const i1 = res.results.find((r) => r.id === I.I1)!;
    expect(i1).toEqual<AIBridgeInterception>({
      id: I.I1,
      api_key_id: 'key-alice',
      initiator: user(s.aliceId, 'alice'),
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-sonnet-4',
      client: 'Claude Code',
      metadata: { request_user_agent: 'claude-cli/1.0' },
      started_at: T(1),
      ended_at: T(1, 30),
      token_usages: [
        {
          id: uid(0x111),
          interception_id: I.I1,
          provider_response_id: 'resp-111',
          input_tokens: 100,
          output_tokens: 20,
          cache_read_input_tokens: 5,
          cache_write_input_tokens: 1,
          metadata: { cache_read_input: 5, nested: { reasoning: 3 } },
          created_at: T(1, 10),
        },
        {
          id: uid(0x112),
          interception_id: I.I1,
          provider_response_id: 'resp-112',
          input_tokens: 50,
          output_tokens: 10,
          cache_read_input_tokens: 0,
          cache_write_input_tokens: 0,
          metadata: { cache_read_input: 0, label: 'x', ratio: 0.5 },
          created_at: T(1, 20),
        },
      ],
      user_prompts: [
        {
          id: uid(0x211),
          interception_id: I.I1,
          provider_response_id: 'resp-211',
          prompt: 'fix the bug',
          metadata: { k: 'v' },
          created_at: T(1, 5),
        },
      ],
      tool_usages: [
        {
          id: uid(0x311),
          interception_id: I.I1,
          provider_response_id: 'resp-111',
          server_url: '',
          tool: 'read_file',
          input: '{"path":"a.go"}',
          injected: false,
          invocation_error: '',
          metadata: {},
          created_at: T(1, 15),
        },
      ],
    });
    const i2 = res.results.find((r) => r.id === I.I2)!;
    expect(i2.tool_usages).toEqual([
      expect.objectContaining({
        server_url: 'https://mcp.example/sse',
        tool: 'bmcp_search',
        injected: true,
        invocation_error: 'boom',
        metadata: { m: 1 },
      }),
    ]);
    // Microseconds survive; absent api key, metadata and client are null, {} and null.
    const i3 = res.results.find((r) => r.id === I.I3)!;
    expect(i3.started_at).toBe('2025-03-01T10:05:00.123456Z');
    const b4 = res.results.find((r) => r.id === I.B4)!;
    expect(b4).toMatchObject({
      api_key_id: null,
      client: null,
      metadata: {},
      token_usages: [],
      user_prompts: [],
    });
    // No user row: the initiator keeps its id and an empty username.
    const g6 = res.results.find((r) => r.id === I.G6)!;
    expect(g6.initiator).toEqual({ id: GHOST, username: '' });
  });

  /** Each `q` lists exactly the expected interceptions, in order, and counts them. */
  async function expectInterceptionsFiltered(cases: [string, string[]][]): Promise<void> {
    for (const [query, expected] of cases) {
      const res = await interceptions(s.owner, `q=${q(query)}`);
      expect({ query, ids: ids(res), count: res.count }).toEqual({
        query,
        ids: expected,
        count: expected.length,
      });
    }
  }

  it('filters by initiator (me, uuid, username, quoted, bare), provider, provider_name, model and client', async () => {
    const cases: [string, string[]][] = [
      ['initiator:alice', [I.C2, I.R2, I.I3, I.I2, I.I1]],
      ['alice', [I.C2, I.R2, I.I3, I.I2, I.I1]],
      ['initiator:"alice"', [I.C2, I.R2, I.I3, I.I2, I.I1]],
      ['initiator:me', [I.O8b, I.O8a, I.O5]],
      [`initiator:${s.bobId}`, [I.B7, I.B4, I.B3]],
      [`initiator:${s.bobId.toUpperCase()}`, [I.B7, I.B4, I.B3]],
      [`initiator:${GHOST}`, [I.G6]],
      ['INITIATOR:Bob', [I.B7, I.B4, I.B3]],
      ['provider:openai', [I.O8b, I.O8a, I.G6, I.B7, I.O5, I.C2, I.R2, I.I3]],
      ['provider:copilot', [I.B3]],
      ['provider_name:copilot-business', [I.B3]],
      ['provider_name:chatgpt', [I.O5]],
      ['provider_name:openai provider:openai', [I.O8b, I.O8a, I.G6, I.B7, I.C2, I.R2, I.I3]],
      ['model:gpt-4o', [I.O8b, I.O8a, I.G6, I.R2, I.I3]],
      ['model:"gpt-4o-mini"', [I.C2]],
      ['client:Unknown', [I.G6, I.B4]],
      ['client:"Claude Code"', [I.I3, I.I2, I.I1]],
      ['client:"GitHub Copilot (VS Code)"', [I.B3]],
      ['initiator:alice model:gpt-4o client:Codex', [I.R2]],
      ['provider:nope', []],
      ['initiator:""', ALL_ORDER],
      ['', ALL_ORDER],
    ];
    await expectInterceptionsFiltered(cases);
  });

  it('filters by inclusive start bounds, to the microsecond', async () => {
    const cases: [string, string[]][] = [
      [`started_after:"${T(10)}" started_before:"${T(40)}"`, [I.B7, I.O5, I.B4, I.C2, I.R2]],
      [`started_after:${T(10)} started_before:${T(40)}`, [I.B7, I.O5, I.B4, I.C2, I.R2]],
      [`started_after:"2025-03-01T10:05:00.123456Z"`, ALL_ORDER.slice(0, 9)],
      [`started_after:"2025-03-01T10:05:00.123457Z"`, ALL_ORDER.slice(0, 8)],
      [`started_after:"2025-03-01T11:05:00.123456+01:00"`, ALL_ORDER.slice(0, 9)],
      [`started_before:"2025-03-01T10:05:00.123456Z"`, [I.I3, I.I2, I.I1, I.B3]],
      [`started_before:"2025-03-01T10:00:29.999999Z"`, []],
      // Postgres rounds to microseconds, as it does for the reference.
      [`started_before:"2025-03-01T10:00:29.9999999Z"`, [I.B3]],
      [`started_after:"${T(61)}"`, []],
    ];
    await expectInterceptionsFiltered(cases);
  });

  it('pages through everything exactly once with after_id and with offset, at every page size', async () => {
    for (let limit = 1; limit <= 13; limit++) {
      const viaCursor: string[] = [];
      let after = '';
      for (let guard = 0; guard < 20; guard++) {
        const page = await interceptions(s.owner, `limit=${limit}${after ? `&after_id=${after}` : ''}`);
        expect(page.count).toBe(12);
        expect(page.results.length).toBeLessThanOrEqual(limit);
        if (page.results.length === 0) break;
        viaCursor.push(...ids(page));
        after = page.results[page.results.length - 1].id;
      }
      expect({ limit, ids: viaCursor }).toEqual({ limit, ids: ALL_ORDER });
      const viaOffset: string[] = [];
      for (let offset = 0; offset < 14; offset += limit) {
        const page = await interceptions(s.owner, `limit=${limit}&offset=${offset}`);
        viaOffset.push(...ids(page));
      }
      expect({ limit, ids: viaOffset }).toEqual({ limit, ids: ALL_ORDER });
    }
  });

  it('keysets after the cursor row even when the cursor is filtered out or in flight', async () => {
    // B4 (bob) as the cursor of an openai-only listing: the rows older than B4.
    const res = await interceptions(s.owner, `q=${q('provider:openai')}&after_id=${I.B4}`);
    expect(ids(res)).toEqual([I.C2, I.R2, I.I3]);
    expect(res.count).toBe(8);
    // An in-flight row is still a position in time.
    expect(ids(await interceptions(s.owner, `after_id=${I.A9}`))).toEqual(ALL_ORDER.slice(2));
    // Equal started_at: O8b then O8a by id.
    expect(ids(await interceptions(s.owner, `after_id=${I.O8b}&limit=1`))).toEqual([I.O8a]);
    // limit=0 is the default.
    expect(ids(await interceptions(s.owner, 'limit=0'))).toEqual(ALL_ORDER);
  });

  it('rejects every bad parameter with 400 naming the field', async () => {
    const p = `${BASE}/interceptions`;
    await bad(s.owner, `${p}?limit=1001`, ['limit']);
    await bad(s.owner, `${p}?limit=-1`, ['limit']);
    await bad(s.owner, `${p}?limit=ten`, ['limit']);
    await bad(s.owner, `${p}?limit=1&limit=2`, ['limit']);
    await bad(s.owner, `${p}?offset=-3`, ['offset']);
    await bad(s.owner, `${p}?offset=1.5`, ['offset']);
    await bad(s.owner, `${p}?after_id=nope`, ['after_id']);
    await bad(s.owner, `${p}?after_id=${I.I1}&offset=1`, ['offset']);
    await bad(s.owner, `${p}?after_id=${uid(0xdead)}`, ['after_id'], BAD_CURSOR);
    await bad(s.owner, `${p}?q=${q('foo:bar')}`, ['foo']);
    await bad(s.owner, `${p}?q=${q('session_id:cs-alpha')}`, ['session_id']);
    await bad(s.owner, `${p}?q=${q('provider:a provider:b')}`, ['provider']);
    await bad(s.owner, `${p}?q=${q(':openai')}`, ['q']);
    await bad(s.owner, `${p}?q=${q('provider:')}`, ['q']);
    await bad(s.owner, `${p}?q=${q('initiator:nobody')}`, ['initiator']);
    await bad(s.owner, `${p}?q=${q('started_after:yesterday')}`, ['started_after']);
    await bad(s.owner, `${p}?q=${q('started_after:"2025-02-30T00:00:00Z"')}`, ['started_after']);
    await bad(s.owner, `${p}?q=${q('started_after:"0000-01-01T00:00:00Z"')}`, ['started_after']);
    await bad(s.owner, `${p}?q=${q('started_before:2025-03-01')}`, ['started_before']);
    await bad(s.owner, `${p}?q=${q(`started_after:"${T(10)}" started_before:"${T(10)}"`)}`, [
      'started_before',
    ]);
    // NUL cannot be stored, so it cannot match: refused with the parameter named.
    await bad(s.owner, `${p}?q=${q('model:a\u0000b')}`, ['q']);
    await bad(s.owner, `${p}?q=a&q=b`, ['q']);
    await bad(s.owner, `${p}?limit=5000&after_id=x&q=${q('foo:1 model:2 model:3')}`, [
      'limit',
      'after_id',
      'foo',
      'model',
    ]);
  });
});

// ---- GET /sessions ---------------------------------------------------------------------------

describe('GET /sessions', () => {
  it('groups completed interceptions by (session id, initiator) and enriches each session exactly', async () => {
    const res = await sessions(s.owner);
    expect(res.count).toBe(8);
    expect(pairs(res)).toEqual(SESSION_ORDER);
    const byKey = (id: string, initiator: string) =>
      res.sessions.find((x) => x.id === id && x.initiator.id === initiator)!;
    expect(byKey('cs-alpha', s.aliceId)).toEqual<AIBridgeSession>({
      id: 'cs-alpha',
      initiator: user(s.aliceId, 'alice'),
      providers: ['anthropic', 'openai'],
      models: ['claude-sonnet-4', 'gpt-4o'],
      client: 'Claude Code',
      metadata: { request_user_agent: 'claude-cli/1.0' },
      started_at: T(1),
      ended_at: T(6),
      threads: 2,
      // The in-flight A9's tokens (500/500) and prompt are not part of the session.
      token_usage_summary: {
        input_tokens: 190,
        output_tokens: 36,
        cache_read_input_tokens: 7,
        cache_write_input_tokens: 1,
      },
      last_prompt: 'now add tests',
    });
    expect(byKey('cs-alpha', s.bobId)).toEqual<AIBridgeSession>({
      id: 'cs-alpha',
      initiator: user(s.bobId, 'bob'),
      providers: ['copilot'],
      models: ['gpt-4.1'],
      client: 'GitHub Copilot (VS Code)',
      metadata: {},
      started_at: T(0, 30),
      ended_at: T(0, 45),
      threads: 1,
      token_usage_summary: {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_write_input_tokens: 0,
      },
    });
    expect(byKey(I.R2, s.aliceId)).toEqual<AIBridgeSession>({
      id: I.R2,
      initiator: user(s.aliceId, 'alice'),
      providers: ['openai'],
      models: ['gpt-4o', 'gpt-4o-mini'],
      client: 'Codex',
      metadata: {},
      started_at: T(10),
      ended_at: T(11, 20),
      threads: 1,
      token_usage_summary: {
        input_tokens: 11,
        output_tokens: 5,
        cache_read_input_tokens: 0,
        cache_write_input_tokens: 0,
      },
      last_prompt: 'child prompt',
    });
    // Two roots starting at the same instant: one session, two threads.
    expect(byKey('cs-tie', s.ownerId)).toMatchObject({ started_at: T(60), ended_at: T(62), threads: 2 });
    // A NULL client is null; no prompt means no last_prompt.
    const b4 = byKey(I.B4, s.bobId);
    expect(b4.client).toBeNull();
    expect(b4).not.toHaveProperty('last_prompt');
    expect(byKey(I.G6, GHOST).initiator).toEqual({ id: GHOST, username: '' });
    expect(byKey(I.O5, s.ownerId).token_usage_summary.input_tokens).toBe(9);
  });

  it('filters sessions; start, end and thread count are over the matching rows, the rest over the session', async () => {
    const cases: [string, [string, string][]][] = [
      [
        'initiator:alice',
        [
          [I.R2, s.aliceId],
          ['cs-alpha', s.aliceId],
        ],
      ],
      [
        'initiator:me',
        [
          ['cs-tie', s.ownerId],
          [I.O5, s.ownerId],
        ],
      ],
      [
        `initiator:${s.bobId}`,
        [
          [I.B7, s.bobId],
          [I.B4, s.bobId],
          ['cs-alpha', s.bobId],
        ],
      ],
      [
        'session_id:cs-alpha',
        [
          ['cs-alpha', s.aliceId],
          ['cs-alpha', s.bobId],
        ],
      ],
      [`session_id:${I.R2}`, [[I.R2, s.aliceId]]],
      ['session_id:nope', []],
      ['provider:copilot', [['cs-alpha', s.bobId]]],
      ['provider_name:chatgpt', [[I.O5, s.ownerId]]],
      [
        'client:Unknown',
        [
          [I.G6, GHOST],
          [I.B4, s.bobId],
        ],
      ],
      ['client:"Claude Code"', [['cs-alpha', s.aliceId]]],
      [`started_after:"${T(10)}" started_before:"${T(40)}"`, SESSION_ORDER.slice(2, 6)],
      [
        'provider:openai',
        [
          ['cs-tie', s.ownerId],
          [I.G6, GHOST],
          [I.B7, s.bobId],
          [I.O5, s.ownerId],
          [I.R2, s.aliceId],
          ['cs-alpha', s.aliceId],
        ],
      ],
    ];
    for (const [query, expected] of cases) {
      const res = await sessions(s.owner, `q=${q(query)}`);
      expect({ query, pairs: pairs(res), count: res.count }).toEqual({
        query,
        pairs: expected,
        count: expected.length,
      });
    }
    // Only I3 of alice's cs-alpha is openai: the session starts, ends and counts threads there,
    // while providers, models, tokens, client and metadata still describe the whole session.
    const openai = await sessions(s.owner, `q=${q('provider:openai initiator:alice')}`);
    expect(openai.sessions[1]).toEqual({
      id: 'cs-alpha',
      initiator: user(s.aliceId, 'alice'),
      providers: ['anthropic', 'openai'],
      models: ['claude-sonnet-4', 'gpt-4o'],
      client: 'Claude Code',
      metadata: { request_user_agent: 'claude-cli/1.0' },
      started_at: '2025-03-01T10:05:00.123456Z',
      ended_at: T(6),
      threads: 1,
      token_usage_summary: {
        input_tokens: 190,
        output_tokens: 36,
        cache_read_input_tokens: 7,
        cache_write_input_tokens: 1,
      },
      last_prompt: 'now add tests',
    });
    // The child C2 alone: a session of R2 with no root among the matching rows.
    const mini = await sessions(s.owner, `q=${q('model:gpt-4o-mini')}`);
    expect(mini.sessions).toEqual([
      expect.objectContaining({ id: I.R2, started_at: T(11), ended_at: T(11, 20), threads: 0 }),
    ]);
  });

  it('pages through every session exactly once with after_session_id and with offset', async () => {
    // Page sizes whose pages never end on alice's cs-alpha (see the shared-id test below).
    for (const limit of [2, 3, 4, 5, 6, 8, 9]) {
      const viaCursor: [string, string][] = [];
      let after = '';
      for (let guard = 0; guard < 20; guard++) {
        const page = await sessions(s.owner, `limit=${limit}${after ? `&after_session_id=${q(after)}` : ''}`);
        expect(page.count).toBe(8);
        if (page.sessions.length === 0) break;
        viaCursor.push(...(pairs(page) as [string, string][]));
        after = page.sessions[page.sessions.length - 1].id;
      }
      expect({ limit, pairs: viaCursor }).toEqual({ limit, pairs: SESSION_ORDER });
    }
    for (const limit of [1, 2, 3, 7, 8]) {
      const viaOffset: string[][] = [];
      for (let offset = 0; offset < 9; offset += limit)
        viaOffset.push(...pairs(await sessions(s.owner, `limit=${limit}&offset=${offset}`)));
      expect({ limit, pairs: viaOffset }).toEqual({ limit, pairs: SESSION_ORDER });
    }
  });

  it('a session id shared by two users is one cursor position, its earliest pair: paging always ends', async () => {
    // limit=1: the page ending with alice's cs-alpha is followed by what is older than bob's
    // (the earliest cs-alpha pair), i.e. nothing; bob's pair is passed over, never repeated.
    const seen: string[][] = [];
    let after = '';
    for (let guard = 0; guard < 20; guard++) {
      const page = await sessions(s.owner, `limit=1${after ? `&after_session_id=${q(after)}` : ''}`);
      if (page.sessions.length === 0) break;
      seen.push(...pairs(page));
      after = page.sessions[0].id;
    }
    expect(seen).toEqual(SESSION_ORDER.slice(0, 7));
    // With a filter that leaves one pair of the id, the cursor is that pair.
    const bob = await sessions(s.owner, `q=${q('initiator:bob')}&after_session_id=cs-alpha`);
    expect(pairs(bob)).toEqual([]);
    const alice = await sessions(s.owner, `q=${q('initiator:alice')}&after_session_id=cs-alpha`);
    expect(pairs(alice)).toEqual([]);
    const aliceFirst = await sessions(s.owner, `q=${q('initiator:alice')}&after_session_id=${I.R2}`);
    expect(pairs(aliceFirst)).toEqual([['cs-alpha', s.aliceId]]);
  });

  it('positions a cursor session that the filters exclude at its first start', async () => {
    // B7 (bob, 10:40) is no anthropic session; as a cursor it still means "older than 10:40".
    const res = await sessions(s.owner, `q=${q('provider:anthropic')}&after_session_id=${I.B7}`);
    expect(pairs(res)).toEqual([
      [I.B4, s.bobId],
      ['cs-alpha', s.aliceId],
    ]);
    expect(res.count).toBe(2);
    // Two sessions with the same first start (10:40) are ordered by session id.
    expect(pairs(await sessions(s.owner, `after_session_id=${I.B7}&limit=1`))).toEqual([[I.O5, s.ownerId]]);
  });

  it('rejects bad parameters with 400 naming the field', async () => {
    const p = `${BASE}/sessions`;
    await bad(s.owner, `${p}?q=alice`, ['q']);
    await bad(s.owner, `${p}?q=${q('initiator:alice stray')}`, ['q']);
    await bad(s.owner, `${p}?q=${q('color:blue')}`, ['color']);
    await bad(s.owner, `${p}?q=${q('session_id:a session_id:b')}`, ['session_id']);
    await bad(s.owner, `${p}?q=${q('started_before:soon')}`, ['started_before']);
    await bad(s.owner, `${p}?limit=1001`, ['limit']);
    await bad(s.owner, `${p}?offset=x`, ['offset']);
    await bad(s.owner, `${p}?after_session_id=cs-alpha&offset=2`, ['offset']);
    await bad(s.owner, `${p}?after_session_id=nope`, ['after_session_id'], BAD_CURSOR);
    // In flight only: not a session.
    await bad(s.owner, `${p}?after_session_id=${I.B9}`, ['after_session_id'], BAD_CURSOR);
    await bad(s.owner, `${p}?after_session_id=a%00b`, ['after_session_id']);
  });
});

// ---- GET /sessions/{session_id} --------------------------------------------------------------

describe('GET /sessions/{session_id}', () => {
  const threads = (c: AgentmeshClient, id: string, params = '') =>
    ok<AIBridgeSessionThreadsResponse>(
      c,
      `${BASE}/sessions/${encodeURIComponent(id)}${params ? `?${params}` : ''}`,
    );

  const tokens = (i: number, o: number, cr: number, cw: number, metadata: Record<string, number> = {}) => ({
    input_tokens: i,
    output_tokens: o,
    cache_read_input_tokens: cr,
    cache_write_input_tokens: cw,
    metadata,
  });

  const threadI1 = () => ({
    id: I.I1,
    prompt: 'fix the bug',
    model: 'claude-sonnet-4',
    provider: 'anthropic',
    credential_kind: 'byok',
    credential_hint: 'sk-a...efgh',
    started_at: T(1),
    ended_at: T(2, 40),
    token_usage: tokens(180, 35, 7, 1, { cache_read_input: 5, 'nested.reasoning': 7 }),
    agentic_actions: [
      {
        model: 'claude-sonnet-4',
        token_usage: tokens(150, 30, 5, 1, { cache_read_input: 5, 'nested.reasoning': 3 }),
        thinking: [{ text: 'plan' }],
        tool_calls: [
          {
            id: uid(0x311),
            interception_id: I.I1,
            provider_response_id: 'resp-111',
            server_url: '',
            tool: 'read_file',
            injected: false,
            input: '{"path":"a.go"}',
            metadata: {},
            created_at: T(1, 15),
          },
        ],
      },
      {
        model: 'claude-sonnet-4',
        token_usage: tokens(30, 5, 2, 0, { 'nested.reasoning': 4 }),
        thinking: [{ text: 'Let me look' }, { text: 'then search' }],
        tool_calls: [
          {
            id: uid(0x312),
            interception_id: I.I2,
            provider_response_id: 'resp-113',
            server_url: 'https://mcp.example/sse',
            tool: 'bmcp_search',
            injected: true,
            input: '{"q":"x"}',
            metadata: { m: 1 },
            created_at: T(2, 15),
          },
        ],
      },
    ],
  });

  const threadI3 = () => ({
    id: I.I3,
    prompt: 'now add tests',
    model: 'gpt-4o',
    provider: 'openai',
    credential_kind: 'centralized',
    credential_hint: '',
    started_at: '2025-03-01T10:05:00.123456Z',
    ended_at: T(6),
    token_usage: tokens(10, 1, 0, 0),
    agentic_actions: [],
  });

  const header = () => ({
    id: 'cs-alpha',
    initiator: user(s.aliceId, 'alice'),
    providers: ['anthropic', 'openai'],
    models: ['claude-sonnet-4', 'gpt-4o'],
    client: 'Claude Code',
    metadata: { request_user_agent: 'claude-cli/1.0' },
    started_at: T(1),
    ended_at: T(6),
    token_usage_summary: tokens(190, 36, 7, 1, { cache_read_input: 5, 'nested.reasoning': 7 }),
  });

  it('returns the session with its threads, agentic actions and token sums', async () => {
    // cs-alpha is shared by alice and bob; the id names the pair the list shows first.
    expect(await threads(s.owner, 'cs-alpha')).toEqual({
      ...header(),
      page_started_at: T(1),
      page_ended_at: T(6),
      threads: [threadI1(), threadI3()],
    });
    const r2 = await threads(s.audrey, I.R2);
    expect(r2).toMatchObject({
      id: I.R2,
      client: 'Codex',
      page_started_at: T(10),
      page_ended_at: T(11, 20),
      threads: [
        {
          id: I.R2,
          prompt: 'summarize repo',
          started_at: T(10),
          ended_at: T(11, 20),
          token_usage: tokens(11, 5, 0, 0),
          agentic_actions: [],
        },
      ],
    });
    // A NULL client is omitted here.
    expect(await threads(s.owner, I.B4)).not.toHaveProperty('client');
  });

  it('pages threads with after_id and before_id (limit 1..200, default 50)', async () => {
    const first = await threads(s.owner, 'cs-alpha', 'limit=1');
    expect(first).toEqual({
      ...header(),
      page_started_at: T(1),
      page_ended_at: T(2, 40),
      threads: [threadI1()],
    });
    const second = await threads(s.owner, 'cs-alpha', `limit=1&after_id=${I.I1}`);
    expect(second).toEqual({
      ...header(),
      page_started_at: '2025-03-01T10:05:00.123456Z',
      page_ended_at: T(6),
      threads: [threadI3()],
    });
    const empty = await threads(s.owner, 'cs-alpha', `after_id=${I.I3}`);
    expect(empty).toEqual({ ...header(), threads: [] });
    expect((await threads(s.owner, 'cs-alpha', `before_id=${I.I3}`)).threads.map((t) => t.id)).toEqual([
      I.I1,
    ]);
    expect((await threads(s.owner, 'cs-alpha', `before_id=${I.I1}`)).threads).toEqual([]);
    // A child interception of the session is a valid cursor too.
    expect((await threads(s.owner, 'cs-alpha', `after_id=${I.I2}`)).threads.map((t) => t.id)).toEqual([I.I3]);
    expect((await threads(s.owner, 'cs-tie', 'limit=1')).threads.map((t) => t.id)).toEqual([I.O8a]);
    expect((await threads(s.owner, 'cs-tie', `after_id=${I.O8a}`)).threads.map((t) => t.id)).toEqual([I.O8b]);
    expect((await threads(s.owner, 'cs-tie', `before_id=${I.O8b}`)).threads.map((t) => t.id)).toEqual([
      I.O8a,
    ]);
  });

  it('opens a session whose client id is 256 characters outside ASCII', async () => {
    // 256 code points (the recorder's limit), 384 UTF-16 units, 2,304 characters percent-encoded.
    const csid = '🦀'.repeat(128) + 'é'.repeat(128);
    const id = uid(0x256);
    await insertInterception({
      id,
      initiator: s.aliceId,
      provider: 'openai',
      providerName: 'openai',
      model: 'gpt-4o',
      client: 'Codex',
      started: '2025-03-05T00:00:00Z',
      ended: '2025-03-05T00:00:01Z',
      csid,
    });
    try {
      const res = await s.owner.raw('GET', `${BASE}/sessions/${encodeURIComponent(csid)}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: csid, threads: [{ id }] });
    } finally {
      await s.db.query(`DELETE FROM aibridge_interceptions WHERE id = $1`, [id]);
    }
  });

  it('404 for unknown or in-flight-only sessions, 400 for bad paging parameters', async () => {
    const p = `${BASE}/sessions`;
    // Client session ids run to 256 characters: long ids are looked up, not refused (414).
    for (const id of ['nope', I.B9, 'x'.repeat(90), 'x'.repeat(256)]) {
      const res = await s.owner.raw('GET', `${p}/${id}`);
      expect({ id, status: res.status, body: res.body }).toEqual({
        id,
        status: 404,
        body: { message: 'Session not found.' },
      });
    }
    // The app's request guard refuses NUL in any path parameter.
    const nul = await s.owner.raw('GET', `${p}/a%00b`);
    expect(nul.status).toBe(400);
    expect((nul.body as ApiErrorBody).validations?.map((v) => v.field)).toEqual(['session_id']);
    await bad(s.owner, `${p}/cs-alpha?limit=0`, ['limit']);
    await bad(s.owner, `${p}/cs-alpha?limit=201`, ['limit']);
    await bad(s.owner, `${p}/cs-alpha?limit=x`, ['limit']);
    await bad(s.owner, `${p}/cs-alpha?after_id=nope`, ['after_id']);
    await bad(s.owner, `${p}/cs-alpha?before_id=nope`, ['before_id']);
    await bad(s.owner, `${p}/cs-alpha?after_id=${I.I1}&before_id=${I.I3}`, ['before_id']);
    await bad(s.owner, `${p}/cs-alpha?after_id=${uid(0xdead)}`, ['after_id'], BAD_CURSOR);
    await bad(s.owner, `${p}/cs-alpha?after_id=${I.R2}`, ['after_id'], BAD_CURSOR);
    // bob's interception carries the same session id but belongs to the other pair.
    await bad(s.owner, `${p}/cs-alpha?before_id=${I.B3}`, ['before_id'], BAD_CURSOR);
    expect((await threads(s.owner, 'cs-alpha', 'limit=200')).threads).toHaveLength(2);
  });
});

// ---- GET /models, GET /clients ---------------------------------------------------------------

describe('GET /models and GET /clients', () => {
  it('lists distinct models and clients of completed interceptions, sorted, by prefix, paged', async () => {
    const models = (params = '') => ok<string[]>(s.owner, `${BASE}/models${params ? `?${params}` : ''}`);
    expect(await models()).toEqual([
      'claude-haiku',
      'claude-sonnet-4',
      'gpt-4.1',
      'gpt-4o',
      'gpt-4o-mini',
      'gpt-5',
    ]);
    expect(await models('q=gpt-4o')).toEqual(['gpt-4o', 'gpt-4o-mini']);
    expect(await models(`q=${q('model:claude')}`)).toEqual(['claude-haiku', 'claude-sonnet-4']);
    expect(await models('limit=2&offset=1')).toEqual(['claude-sonnet-4', 'gpt-4.1']);
    // LIKE wildcards in the prefix are literal.
    expect(await models('q=gpt_')).toEqual([]);
    expect(await models('q=%25')).toEqual([]);
    const clients = (params = '') => ok<string[]>(s.owner, `${BASE}/clients${params ? `?${params}` : ''}`);
    expect(await clients()).toEqual(['Claude Code', 'Codex', 'GitHub Copilot (VS Code)', 'Unknown']);
    expect(await clients('q=C')).toEqual(['Claude Code', 'Codex']);
    expect(await clients(`q=${q('client:"GitHub Copilot"')}`)).toEqual(['GitHub Copilot (VS Code)']);
    expect(await clients('q=Unk')).toEqual(['Unknown']);
    expect(await clients('limit=1&offset=3')).toEqual(['Unknown']);
  });

  it('rejects bad parameters with 400 naming the field', async () => {
    await bad(s.owner, `${BASE}/models?limit=5000`, ['limit']);
    await bad(s.owner, `${BASE}/models?q=${q('client:x')}`, ['client']);
    await bad(s.owner, `${BASE}/clients?offset=-1`, ['offset']);
    await bad(s.owner, `${BASE}/clients?q=${q('model:x')}`, ['model']);
  });
});

// ---- RBAC ------------------------------------------------------------------------------------

describe('RBAC', () => {
  it('auditors read everything, like owners', async () => {
    expect(ids(await interceptions(s.audrey))).toEqual(ALL_ORDER);
    expect(pairs(await sessions(s.audrey))).toEqual(SESSION_ORDER);
    expect(await ok(s.audrey, `${BASE}/models?q=gpt-5`)).toEqual(['gpt-5']);
    expect((await interceptions(s.audrey, `q=${q('initiator:alice')}`)).count).toBe(5);
  });

  it('members cannot read interceptions back, not even their own (libs/rbac, as the reference)', async () => {
    expect(await interceptions(s.alice)).toEqual({ count: 0, results: [] });
    expect(await interceptions(s.alice, `q=${q('initiator:me')}`)).toEqual({ count: 0, results: [] });
    expect(await interceptions(s.alice, `q=${q(`initiator:${s.bobId}`)}`)).toEqual({ count: 0, results: [] });
    expect(await sessions(s.alice)).toEqual({ count: 0, sessions: [] });
    expect(await ok(s.alice, `${BASE}/models`)).toEqual([]);
    expect(await ok(s.alice, `${BASE}/clients`)).toEqual([]);
    expect((await s.alice.raw('GET', `${BASE}/sessions/cs-alpha`)).status).toBe(404);
    // A cursor the caller cannot see does not exist for it.
    await bad(s.alice, `${BASE}/interceptions?after_id=${I.I1}`, ['after_id'], BAD_CURSOR);
    await bad(s.alice, `${BASE}/sessions?after_session_id=cs-alpha`, ['after_session_id'], BAD_CURSOR);
    // Users the member may not read cannot be named (as the reference's user lookup).
    await bad(s.alice, `${BASE}/interceptions?q=${q('initiator:bob')}`, ['initiator']);
  });

  it('a token limited to one interception reads that interception and no session aggregates', async () => {
    const { key } = await s.owner.createToken('me', {
      token_name: 'one-interception',
      allow_list: [{ type: 'aibridge_interception', id: I.I1 }],
    });
    const scoped = h.client(key);
    const list = await interceptions(scoped);
    expect({ count: list.count, ids: ids(list) }).toEqual({ count: 1, ids: [I.I1] });
    for (const path of ['sessions', 'sessions/cs-alpha']) {
      const res = await scoped.raw('GET', `${BASE}/${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
  });

  it('a role granting read on own interceptions becomes a SQL condition on initiator_id', async () => {
    // No built-in role grants it; a subject holding such a role sees exactly its own rows.
    const ownRead: Role = {
      name: 'own-aibridge-reader',
      displayName: 'Own AI Bridge reader',
      site: [],
      user: [{ negate: false, resourceType: 'aibridge_interception', action: 'read' }],
      byOrgId: {},
    };
    const auth: AuthContext = {
      userId: s.aliceId,
      username: 'alice',
      status: 'active',
      apiKeyId: '',
      subject: { id: s.aliceId, roles: [...expandRoles([], {}), ownRead], groups: [], scope: SCOPE_ALL },
      orgRoles: {},
      siteRoles: [],
      fullScope: true,
    };
    const ds = createDataSource({ url: h.db.url, poolSize: 2, applicationName: 'aibridge-api-spec' });
    await ds.initialize();
    try {
      const svc = new AibridgeService(ds);
      const mine = await svc.listInterceptions(auth, {});
      expect(mine.results.map((r) => r.id)).toEqual([I.C2, I.R2, I.I3, I.I2, I.I1]);
      expect(mine.count).toBe(5);
      const theirs = await svc.listInterceptions(auth, { q: `initiator:${s.bobId}` });
      expect(theirs).toEqual({ count: 0, results: [] });
      const own = await svc.listSessions(auth, {});
      expect(own.sessions.map((x) => [x.id, x.initiator.id])).toEqual([
        [I.R2, s.aliceId],
        ['cs-alpha', s.aliceId],
      ]);
      expect(own.count).toBe(2);
      expect((await svc.listSessions(auth, { after_session_id: I.R2 })).sessions.map((x) => x.id)).toEqual([
        'cs-alpha',
      ]);
      expect((await svc.sessionThreads(auth, 'cs-alpha', {})).threads.map((t) => t.id)).toEqual([I.I1, I.I3]);
      await expect(svc.sessionThreads(auth, I.B4, {})).rejects.toMatchObject({ code: 'not_found' });
      expect(await svc.listModels(auth, {})).toEqual(['claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini']);
      expect(await svc.listClients(auth, {})).toEqual(['Claude Code', 'Codex']);
    } finally {
      await ds.destroy();
    }
  });

  it('requires authentication', async () => {
    for (const path of ['interceptions', 'sessions', 'sessions/cs-alpha', 'models', 'clients'])
      expect((await h.client().raw('GET', `${BASE}/${path}`)).status).toBe(401);
  });
});

// ---- has_ai_seat -----------------------------------------------------------------------------

describe('has_ai_seat', () => {
  // Any interception, in flight or not, takes a seat: carol has only an in-flight one.
  const seats = () => ({
    owner: true,
    alice: true,
    bob: true,
    carol: true,
    audrey: false,
  });

  it('is computed for GET /users, GET /users/{user} and organization members', async () => {
    const list = await s.owner.users();
    expect(Object.fromEntries(list.users.map((u) => [u.username, u.has_ai_seat]))).toEqual(seats());
    for (const [name, seat] of Object.entries(seats())) {
      expect({ name, seat: (await s.owner.user(name)).has_ai_seat }).toEqual({ name, seat });
    }
    expect((await s.alice.user('me')).has_ai_seat).toBe(true);
    expect((await s.audrey.user('me')).has_ai_seat).toBe(false);
    const members = await s.owner.members(s.orgId);
    expect(Object.fromEntries(members.map((m) => [m.username, m.has_ai_seat]))).toEqual(seats());
    const page = await s.owner.paginatedMembers(s.orgId, 2, 1);
    for (const m of page.members)
      expect(m.has_ai_seat).toBe(seats()[m.username as keyof ReturnType<typeof seats>]);
    const one = await s.owner.raw('GET', `/api/v2/organizations/${s.orgId}/members/audrey`);
    expect((one.body as { has_ai_seat: boolean }).has_ai_seat).toBe(false);
    const carol = await s.owner.raw('GET', `/api/v2/organizations/${s.orgId}/members/carol`);
    expect((carol.body as { has_ai_seat: boolean }).has_ai_seat).toBe(true);
  });
});
