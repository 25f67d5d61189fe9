// Chats over HTTP against a real chat-api, Postgres and NATS (no worker runs: tests move a
// chat's status with SQL where they play the worker): creation and its seed messages, the
// agents-access gate, other users' chats, the list, PATCH rules, message pages, send with
// the busy behaviours and the queue cap, edit, queue delete/promote, interrupt, lifecycle
// events on JetStream and signals on core NATS, and a sweep of malformed requests.
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { SubjectCatalog } from '@agentmesh/bus';
import { AgentmeshClient, ChatLifecycleEvent, ChatStreamMessage } from '@agentmesh/contracts';
import { NO_WORKSPACE_AWARENESS } from '@agentmesh/chats';
import { TEST_NATS_URL } from '@agentmesh/testing';
import { DEFAULT_SYSTEM_PROMPT as BUILT_IN_SYSTEM_PROMPT } from '../src/chat-config';
import { setupOwner, useChatApi } from './harness';

const BASE = '/api/experimental/chats';
const NIL = '00000000-0000-0000-0000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const NOT_FOUND = 'Resource not found or you do not have access to this resource';
const WORKER = '11111111-2222-4333-8444-555555555555';

type Json = Record<string, unknown>;
type ChatJson = Json & { id: string; status: string; title: string; pin_order: number };

const h = useChatApi({ LOGIN_RATE_LIMIT_ACCOUNT: '1000', LOGIN_RATE_LIMIT_IP: '1000' });

const s = {} as {
  owner: AgentmeshClient;
  ownerId: string;
  orgId: string;
  alice: AgentmeshClient;
  aliceId: string;
  bob: AgentmeshClient;
  plain: AgentmeshClient;
  db: Client;
  nc: NatsConnection;
  defaultConfig: string;
  otherConfig: string;
  disabledConfig: string;
  deletedConfig: string;
};

async function addUser(name: string, roles: string[]): Promise<{ client: AgentmeshClient; id: string }> {
  const user = await s.owner.createUser({
    email: `${name}@example.com`,
    username: name,
    password: `${name} password 1`,
    user_status: 'active',
    organization_ids: [s.orgId],
  });
  if (roles.length) await s.owner.updateMemberRoles(s.orgId, name, roles);
  const client = h.client();
  await client.login({ email: `${name}@example.com`, password: `${name} password 1` });
  return { client, id: user.id };
}

beforeAll(async () => {
  const o = await setupOwner(h);
  Object.assign(s, { owner: o.client, ownerId: o.userId, orgId: o.orgId });
  const alice = await addUser('alice', ['agents-access']);
  s.alice = alice.client;
  s.aliceId = alice.id;
  s.bob = (await addUser('bob', ['agents-access'])).client;
  s.plain = (await addUser('plain', [])).client;
  s.db = new Client({ connectionString: h.db.url });
  await s.db.connect();
  // The admin config endpoints are tested elsewhere: rows straight into the tables.
  await s.db.query(`INSERT INTO chat_providers (provider, display_name) VALUES ('openai', 'OpenAI')`);
  const config = async (model: string, extra: string) =>
    (
      await s.db.query(
        `INSERT INTO chat_model_configs (provider, model, display_name, context_limit, is_default, enabled, deleted)
         VALUES ('openai', $1, $1, 128000, ${extra}) RETURNING id`,
        [model],
      )
    ).rows[0].id as string;
  s.defaultConfig = await config('gpt-default', 'true, true, false');
  s.otherConfig = await config('gpt-other', 'false, true, false');
  s.disabledConfig = await config('gpt-disabled', 'false, false, false');
  s.deletedConfig = await config('gpt-deleted', 'false, true, true');
  s.nc = await connect({ servers: TEST_NATS_URL });
});

afterAll(async () => {
  await s.db?.end();
  await s.nc?.close();
});

async function call(c: AgentmeshClient, method: string, path: string, body?: unknown) {
  return c.raw(method, `${BASE}${path}`, body === undefined ? {} : { body });
}

async function expectOk<T = Json>(
  c: AgentmeshClient,
  method: string,
  path: string,
  body: unknown,
  status: number,
): Promise<T> {
  const res = await call(c, method, path, body);
  if (res.status !== status)
    throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as T;
}

async function expectError(
  c: AgentmeshClient,
  method: string,
  path: string,
  body: unknown,
  status: number,
  message?: string | RegExp,
): Promise<Json> {
  const res = await call(c, method, path, body);
  expect(res.status).toBe(status);
  if (message !== undefined)
    expect((res.body as Json).message).toEqual(
      typeof message === 'string' ? message : expect.stringMatching(message),
    );
  return res.body as Json;
}

const text = (t: string) => [{ type: 'text', text: t }];

async function newChat(c: AgentmeshClient = s.alice, body: Json = {}): Promise<ChatJson> {
  return expectOk<ChatJson>(
    c,
    'POST',
    '',
    { organization_id: s.orgId, content: text('hello there'), ...body },
    201,
  );
}

/** Plays the worker: puts the chat in a state (and clears its queue unless told not to). */
async function setState(
  chatId: string,
  status: string,
  opts: { worker?: string | null; clearQueue?: boolean; heartbeatAgoS?: number } = {},
): Promise<void> {
  await s.db.query(
    `UPDATE chats SET status = $2, worker_id = $3,
        heartbeat_at = CASE WHEN $3::uuid IS NULL THEN heartbeat_at ELSE now() - make_interval(secs => $4) END
      WHERE id = $1`,
    [chatId, status, opts.worker ?? null, opts.heartbeatAgoS ?? 0],
  );
  if (opts.clearQueue !== false)
    await s.db.query(`DELETE FROM chat_queued_messages WHERE chat_id = $1`, [chatId]);
}

async function chatRow(chatId: string): Promise<Json> {
  return (await s.db.query(`SELECT * FROM chats WHERE id = $1`, [chatId])).rows[0];
}

async function queueIds(chatId: string): Promise<number[]> {
  const { rows } = await s.db.query(`SELECT id FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id`, [
    chatId,
  ]);
  return rows.map((r) => Number(r.id));
}

async function dbMessages(chatId: string): Promise<Json[]> {
  return (
    await s.db.query(
      `SELECT id, role, visibility, content, created_by, model_config_id, deleted FROM chat_messages
        WHERE chat_id = $1 ORDER BY id`,
      [chatId],
    )
  ).rows;
}

async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Collects the JSON messages of a core NATS subject from now on. */
async function listen<T>(subject: string): Promise<{ msgs: T[]; stop: () => void }> {
  const sub = s.nc.subscribe(subject);
  const msgs: T[] = [];
  void (async () => {
    for await (const m of sub) msgs.push(m.json<T>());
  })();
  await s.nc.flush();
  return { msgs, stop: () => sub.unsubscribe() };
}

/** Every CHAT_EVENTS message of one chat, in stream order. */
async function chatEvents(
  ownerId: string,
  chatId: string,
): Promise<(ChatLifecycleEvent & { msgId: string })[]> {
  const cat = new SubjectCatalog(h.prefix);
  const consumer = await jetstream(s.nc).consumers.get(cat.streamName('CHAT_EVENTS'), {
    filter_subjects: `${h.prefix}.chat.events.${ownerId}.${chatId}`,
  });
  const out: (ChatLifecycleEvent & { msgId: string })[] = [];
  const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
  for await (const m of batch) {
    out.push({ ...m.json<ChatLifecycleEvent>(), msgId: m.headers?.get('Nats-Msg-Id') ?? '' });
    if (m.info.pending === 0) break;
  }
  return out;
}

async function waitForEvents(ownerId: string, chatId: string, kinds: string[]) {
  return until(
    async () => {
      const events = await chatEvents(ownerId, chatId);
      const got = events.map((e) => e.kind);
      return kinds.every((k, i) => got[i] === k) && got.length >= kinds.length ? events : undefined;
    },
    `events ${kinds.join(', ')} of chat ${chatId}`,
  );
}

describe('POST /chats', () => {
  it('creates a pending chat (201) with the full chat object', async () => {
    const chat = await newChat();
    expect(chat).toEqual({
      id: expect.stringMatching(UUID),
      organization_id: s.orgId,
      owner_id: s.aliceId,
      last_model_config_id: s.defaultConfig,
      title: 'hello there',
      status: 'pending',
      last_error: null,
      created_at: expect.stringMatching(TIME),
      updated_at: expect.stringMatching(TIME),
      archived: false,
      pin_order: 0,
      has_unread: false,
      mcp_server_ids: [],
      labels: {},
      client_type: 'api',
      children: [],
    });
  });

  it('inserts deployment prompt, per-chat prompt, workspace awareness and the user message in that order', async () => {
    const chat = await newChat(s.alice, { system_prompt: '  Answer in French.\u200b ' });
    const rows = await dbMessages(chat.id);
    expect(rows.map((r) => [r.role, r.visibility, (r.content as Json[])[0]])).toEqual([
      ['system', 'model', { type: 'text', text: BUILT_IN_SYSTEM_PROMPT }],
      ['system', 'model', { type: 'text', text: 'Answer in French.' }],
      ['system', 'model', { type: 'text', text: NO_WORKSPACE_AWARENESS }],
      ['user', 'both', { type: 'text', text: 'hello there' }],
    ]);
    const ids = rows.map((r) => Number(r.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(rows[3]).toMatchObject({ created_by: s.aliceId, model_config_id: s.defaultConfig });
    expect(rows.slice(0, 3).every((r) => r.created_by === null)).toBe(true);
  });

  it('skips the per-chat prompt when none is given', async () => {
    const chat = await newChat();
    expect((await dbMessages(chat.id)).map((r) => r.role)).toEqual(['system', 'system', 'user']);
  });

  it('composes the deployment prompt from the admin system-prompt config', async () => {
    const first = async () => ((await dbMessages((await newChat()).id))[0].content as Json[])[0].text;
    const put = async (body: Record<string, unknown>) =>
      expect(
        (await s.owner.raw('PUT', '/api/experimental/chats/config/system-prompt', { body })).status,
      ).toBe(204);
    try {
      await put({ system_prompt: 'Be brief.', include_default_system_prompt: false });
      expect(await first()).toBe('Be brief.');
      await put({ system_prompt: 'Be brief.', include_default_system_prompt: true });
      expect(await first()).toBe(`${BUILT_IN_SYSTEM_PROMPT}\n\nBe brief.`);
      await put({ system_prompt: '', include_default_system_prompt: false });
      // Nothing to say: no deployment prompt row at all.
      const rows = await dbMessages((await newChat()).id);
      expect(rows.map((r) => r.role)).toEqual(['system', 'user']);
    } finally {
      await put({ system_prompt: '', include_default_system_prompt: true });
    }
  });

  it.each([
    ['one two three four five six seven eight', 'one two three four five six…'],
    ['  short   and\nsweet ', 'short and sweet'],
    ['x'.repeat(100), `${'x'.repeat(79)}…`],
    ['🦀'.repeat(90), `${'🦀'.repeat(79)}…`],
  ])('titles %j as %j', async (input, title) => {
    expect((await newChat(s.alice, { content: text(input) })).title).toBe(title);
  });

  it('titles a chat without text "New Chat"', async () => {
    const chat = await newChat(s.alice, {
      content: [{ type: 'file-reference', file_name: 'main.go', start_line: 1, end_line: 3, content: 'x' }],
    });
    expect(chat.title).toBe('New Chat');
  });

  it('stores labels, plan mode and client type', async () => {
    const chat = await newChat(s.alice, {
      labels: { 'github.repo': 'a/b' },
      plan_mode: 'plan',
      client_type: 'ui',
    });
    expect(chat).toMatchObject({ labels: { 'github.repo': 'a/b' }, plan_mode: 'plan', client_type: 'ui' });
  });

  it('accepts parts case-insensitively, ignores a nil file_id on text, and keeps text as typed', async () => {
    const chat = await newChat(s.alice, {
      content: [{ type: ' TEXT ', text: '  indented\n', file_id: NIL }],
    });
    expect((await dbMessages(chat.id)).at(-1)!.content).toEqual([{ type: 'text', text: '  indented\n' }]);
  });

  it('uses a given enabled model config and refuses disabled, deleted, unknown and nil ones', async () => {
    expect((await newChat(s.alice, { model_config_id: s.otherConfig })).last_model_config_id).toBe(
      s.otherConfig,
    );
    for (const id of [s.disabledConfig, s.deletedConfig, '7b0e5c2a-1111-4222-8333-444455556666', NIL]) {
      await expectError(
        s.alice,
        'POST',
        '',
        { organization_id: s.orgId, content: text('x'), model_config_id: id },
        400,
        'Invalid model config ID.',
      );
    }
  });

  it('needs a default model config when none is given', async () => {
    await s.db.query(`UPDATE chat_model_configs SET is_default = false WHERE id = $1`, [s.defaultConfig]);
    try {
      await expectError(
        s.alice,
        'POST',
        '',
        { organization_id: s.orgId, content: text('x') },
        400,
        'No default chat model config is configured.',
      );
    } finally {
      await s.db.query(`UPDATE chat_model_configs SET is_default = true WHERE id = $1`, [s.defaultConfig]);
    }
  });

  it.each([
    ['no organization_id', { organization_id: undefined }, 400, 'organization_id is required.'],
    ['the nil organization_id', { organization_id: NIL }, 400, 'organization_id is required.'],
    [
      'an organization the caller is not in',
      { organization_id: '7b0e5c2a-1111-4222-8333-444455556666' },
      403,
      'You are not a member of the specified organization.',
    ],
    ['empty content', { content: [] }, 400, 'Content is required.'],
    ['missing content', { content: undefined }, 400, 'Content is required.'],
    [
      'a per-chat prompt over 10 000 characters',
      { system_prompt: 'p'.repeat(10_001) },
      400,
      'System prompt exceeds maximum length.',
    ],
    ['a label key with a leading dash', { labels: { '-bad': 'v' } }, 400, 'Invalid labels.'],
    ['an empty label value', { labels: { k: '' } }, 400, 'Invalid labels.'],
    [
      '51 labels',
      { labels: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
      400,
      'Invalid labels.',
    ],
    ['an unknown plan_mode', { plan_mode: 'later' }, 400, 'Invalid plan_mode value.'],
    ['a non-string plan_mode', { plan_mode: 3 }, 400, 'Invalid plan_mode value.'],
    ['an unknown client_type', { client_type: 'cli' }, 400, 'Invalid client_type.'],
    [
      'unknown MCP servers',
      { mcp_server_ids: ['7b0e5c2a-1111-4222-8333-444455556666'] },
      400,
      'One or more MCP server IDs are invalid.',
    ],
    [
      'an unknown workspace',
      { workspace_id: '7b0e5c2a-1111-4222-8333-444455556666' },
      400,
      'Workspace not found or you do not have access to this resource',
    ],
    [
      '251 dynamic tools',
      { unsafe_dynamic_tools: Array.from({ length: 251 }, (_, i) => ({ name: `t${i}`, input_schema: {} })) },
      400,
      'Too many dynamic tools.',
    ],
    [
      'duplicate dynamic tool names',
      {
        unsafe_dynamic_tools: [
          { name: 'a', input_schema: {} },
          { name: 'a', input_schema: {} },
        ],
      },
      400,
      'Invalid dynamic tools.',
    ],
  ])('refuses %s with %i %j', async (_name, patch, status, message) => {
    const body: Json = { organization_id: s.orgId, content: text('x'), ...patch };
    await expectError(s.alice, 'POST', '', body, status, message);
  });

  it('accepts a 10 000 character per-chat prompt', async () => {
    await newChat(s.alice, { system_prompt: 'p'.repeat(10_000) });
  });

  it.each([
    [[{ type: 'text', text: '   ' }], 'content[0].text'],
    [[{ type: 'text', text: 'ok' }, { type: 'text' }], 'content[1].text'],
    [[{ type: 'image', text: 'x' }], 'content[0].type'],
    [[{ text: 'x' }], 'content[0].type'],
    [[{ type: 'file' }], 'content[0].file_id'],
    [[{ type: 'file', file_id: NIL }], 'content[0].file_id'],
    [[{ type: 'file', file_id: '7b0e5c2a-1111-4222-8333-444455556666' }], 'content[0].file_id'],
    [[{ type: 'file-reference', file_name: ' ' }], 'content[0].file_name'],
    [[{ type: 'file-reference', file_name: 'a', start_line: -1 }], 'content[0].start_line'],
    [[{ type: 'text', text: 5 }], 'content[0].text'],
    [['just a string'], 'content[0]'],
  ])('refuses content %j as an invalid part naming %s', async (content, field) => {
    const body = await expectError(
      s.alice,
      'POST',
      '',
      { organization_id: s.orgId, content },
      400,
      'Invalid input part.',
    );
    expect(body.detail).toContain(field);
  });

  it('caps the creation body at 256 KiB', async () => {
    const body = await expectError(
      s.alice,
      'POST',
      '',
      { organization_id: s.orgId, content: text('x'.repeat(300 * 1024)) },
      400,
      'Invalid request body.',
    );
    expect(body.detail).toMatch(/256 KiB/);
    // The same text fits in a message (the app-wide limit is larger).
    const chat = await newChat();
    await setState(chat.id, 'waiting');
    await expectOk(s.alice, 'POST', `/${chat.id}/messages`, { content: text('x'.repeat(300 * 1024)) }, 200);
  });

  it('writes the created event to CHAT_EVENTS with the full chat, and wakes the workers', async () => {
    const wake = await listen<Json>(`${h.prefix}.chatd.wake`);
    const chat = await newChat();
    const [created] = await waitForEvents(s.aliceId, chat.id, ['created']);
    expect(created).toMatchObject({ v: 1, kind: 'created' });
    expect(created.chat).toEqual(chat);
    expect(created.msgId).toMatch(new RegExp(`^chat:${chat.id}:created:`));
    await until(() => (wake.msgs.some((m) => m.chat_id === chat.id) ? true : undefined), 'chatd.wake');
    expect(wake.msgs.find((m) => m.chat_id === chat.id)).toEqual({ v: 1, chat_id: chat.id });
    wake.stop();
  });
});

describe('authorization', () => {
  it('refuses chat creation without agents-access (403)', async () => {
    const body = await expectError(
      s.plain,
      'POST',
      '',
      { organization_id: s.orgId, content: text('x') },
      403,
      'Forbidden.',
    );
    expect(body.detail).toBe('You are not allowed to create chats in this organization.');
    expect(await expectOk(s.plain, 'GET', '', undefined, 200)).toEqual([]);
  });

  it("hides another user's chat (404) on every endpoint", async () => {
    const chat = await newChat();
    const paths: [string, string, unknown][] = [
      ['GET', `/${chat.id}`, undefined],
      ['PATCH', `/${chat.id}`, { title: 'mine' }],
      ['GET', `/${chat.id}/messages`, undefined],
      ['POST', `/${chat.id}/messages`, { content: text('x') }],
      ['PATCH', `/${chat.id}/messages/1`, { content: text('x') }],
      ['DELETE', `/${chat.id}/queue/1`, undefined],
      ['POST', `/${chat.id}/queue/1/promote`, undefined],
      ['POST', `/${chat.id}/interrupt`, undefined],
    ];
    for (const c of [s.bob, s.plain])
      for (const [method, path, body] of paths) await expectError(c, method, path, body, 404, NOT_FOUND);
    expect((await chatRow(chat.id)).title).toBe('hello there');
  });

  it('lets the site owner read any chat, and 404s an unknown chat', async () => {
    const chat = await newChat();
    expect((await expectOk<ChatJson>(s.owner, 'GET', `/${chat.id}`, undefined, 200)).id).toBe(chat.id);
    await expectError(s.alice, 'GET', '/7b0e5c2a-1111-4222-8333-444455556666', undefined, 404, NOT_FOUND);
  });
});

describe('GET /chats', () => {
  let c: AgentmeshClient;
  const ids: string[] = [];
  beforeAll(async () => {
    c = (await addUser('lister', ['agents-access'])).client;
    for (let i = 0; i < 5; i++)
      ids.push((await newChat(c, { content: text(`chat ${i}`), labels: { n: String(i % 2) } })).id);
    // Most recently updated last; pin chat 1 then chat 3; archive chat 0.
    await expectOk(c, 'PATCH', `/${ids[1]}`, { pin_order: 1 }, 204);
    await expectOk(c, 'PATCH', `/${ids[3]}`, { pin_order: 1 }, 204);
    await expectOk(c, 'PATCH', `/${ids[0]}`, { archived: true }, 204);
  });

  const list = async (qs = '') => (await expectOk<ChatJson[]>(c, 'GET', qs, undefined, 200)).map((x) => x.id);

  it("returns a bare array of the caller's chats, pinned first, then most recently updated", async () => {
    // Chat 0 was archived last, so it is the most recently updated.
    expect(await list()).toEqual([ids[1], ids[3], ids[0], ids[4], ids[2]]);
    const [first] = await expectOk<ChatJson[]>(c, 'GET', '', undefined, 200);
    expect(first).toMatchObject({ pin_order: 1, children: [], has_unread: false });
  });

  it('filters by archived and labels', async () => {
    expect(await list('?q=archived:false')).toEqual([ids[1], ids[3], ids[4], ids[2]]);
    expect(await list('?q=archived:true')).toEqual([ids[0]]);
    expect(await list('?label=n:1')).toEqual([ids[1], ids[3]]);
    expect(await list('?label=n:1&label=n:0')).toEqual([]);
    expect(await list('?label=n:0&q=archived:false')).toEqual([ids[4], ids[2]]);
  });

  it('pages with limit and offset, or after_id', async () => {
    const all = await list();
    expect(await list('?limit=2')).toEqual(all.slice(0, 2));
    expect(await list('?limit=2&offset=2')).toEqual(all.slice(2, 4));
    expect(await list(`?after_id=${all[1]}`)).toEqual(all.slice(2));
    expect(await list(`?after_id=${all[3]}&limit=1`)).toEqual([all[4]]);
  });

  it('shows has_unread for an assistant message after the read cursor', async () => {
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, 'assistant', '[]', 1)`,
      [ids[2]],
    );
    const chats = await expectOk<ChatJson[]>(c, 'GET', '', undefined, 200);
    expect(chats.find((x) => x.id === ids[2])!.has_unread).toBe(true);
    expect(chats.find((x) => x.id === ids[4])!.has_unread).toBe(false);
  });

  it.each([
    ['?label=novalue', /^Invalid label filter: "novalue"/],
    ['?label=:v', /^Invalid label filter/],
    ['?label=k:', /^Invalid label filter/],
    ['?q=archived:maybe', 'Query parameters have invalid values.'],
    ['?q=status:running', 'Query parameters have invalid values.'],
    ['?q=free+text', 'Query parameters have invalid values.'],
    ['?limit=-1', 'Query parameters have invalid values.'],
    ['?limit=abc', 'Query parameters have invalid values.'],
    ['?after_id=nope', 'Query parameters have invalid values.'],
    ['?after_id=7b0e5c2a-1111-4222-8333-444455556666', 'Query parameters have invalid values.'],
  ])('refuses %s', async (qs, message) => {
    await expectError(c, 'GET', qs, undefined, 400, message);
  });
});

describe('PATCH /chats/{chat}', () => {
  it('renames (trimmed) with 204 and an empty body, and announces title_change', async () => {
    const chat = await newChat();
    const res = await call(s.alice, 'PATCH', `/${chat.id}`, { title: '  Renamed chat  ' });
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    const got = await expectOk<ChatJson>(s.alice, 'GET', `/${chat.id}`, undefined, 200);
    expect(got.title).toBe('Renamed chat');
    const events = await waitForEvents(s.aliceId, chat.id, ['created', 'title_change']);
    expect(events[1].chat).toMatchObject({
      id: chat.id,
      title: 'Renamed chat',
      last_model_config_id: s.defaultConfig,
    });
  });

  it("leaves fields sent as null unchanged, like the reference's optional fields", async () => {
    const chat = await newChat();
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { title: 'Kept', pin_order: 1 }, 204);
    const before = await chatRow(chat.id);
    await expectOk(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { title: null, pin_order: null, archived: null, labels: null, workspace_id: null, plan_mode: null },
      204,
    );
    expect(await chatRow(chat.id)).toMatchObject({
      title: 'Kept',
      pin_order: 1,
      archived: false,
      workspace_id: before.workspace_id,
    });
  });

  it('counts title length in runes', async () => {
    const chat = await newChat();
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { title: '🦀'.repeat(200) }, 204);
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { title: 'a'.repeat(201) },
      400,
      'Title must be at most 200 characters.',
    );
    await expectError(s.alice, 'PATCH', `/${chat.id}`, { title: ' \n ' }, 400, 'Title cannot be empty.');
  });

  it('archives and unarchives once each, stopping a running chat and clearing its pin', async () => {
    const chat = await newChat();
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { pin_order: 1 }, 204);
    await setState(chat.id, 'running', { worker: WORKER });
    const control = await listen<Json>(`${h.prefix}.chatd.control.${WORKER}`);
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { archived: false },
      400,
      'Chat is already not archived.',
    );
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { archived: true }, 204);
    expect(await chatRow(chat.id)).toMatchObject({ archived: true, pin_order: 0, status: 'waiting' });
    await until(() => control.msgs[0], 'control signal');
    expect(control.msgs[0]).toEqual({ v: 1, chat_id: chat.id, reason: 'archive', status: 'waiting' });
    control.stop();
    await expectError(s.alice, 'PATCH', `/${chat.id}`, { archived: true }, 400, 'Chat is already archived.');
    await expectError(s.alice, 'PATCH', `/${chat.id}`, { pin_order: 2 }, 400, 'Cannot pin an archived chat.');
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('x') },
      400,
      'Chat is archived.',
    );
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { archived: false }, 204);
    const events = await waitForEvents(s.aliceId, chat.id, [
      'created',
      'status_change',
      'deleted',
      'created',
    ]);
    expect(events[1].chat.status).toBe('waiting');
    expect(events[2].chat.archived).toBe(true);
    expect(events[3].chat.archived).toBe(false);
  });

  it('unarchiving an idle chat sends the message queued before the archive', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', { worker: WORKER });
    const sent = await expectOk<Json>(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('later') },
      200,
    );
    expect(sent.queued).toBe(true);
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { archived: true }, 204);
    // The worker winds down: an archived chat's turn end leaves the queue alone.
    await s.db.query(`UPDATE chats SET worker_id = NULL WHERE id = $1`, [chat.id]);
    expect(await queueIds(chat.id)).toHaveLength(1);

    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { archived: false }, 204);
    expect(await chatRow(chat.id)).toMatchObject({ archived: false, status: 'pending', worker_id: null });
    expect(await queueIds(chat.id)).toEqual([]);
    const last = (await dbMessages(chat.id)).at(-1)!;
    expect(last).toMatchObject({ role: 'user', content: text('later') });
  });

  it('numbers pins 1..n: appends, moves (clamped) and closes gaps', async () => {
    const c = (await addUser('pinner', ['agents-access'])).client;
    const [a, b, d] = [await newChat(c), await newChat(c), await newChat(c)];
    const pins = async () =>
      Object.fromEntries(
        (
          await s.db.query(`SELECT id, pin_order FROM chats WHERE id = ANY($1)`, [[a.id, b.id, d.id]])
        ).rows.map((r) => [r.id === a.id ? 'a' : r.id === b.id ? 'b' : 'd', r.pin_order]),
      );
    for (const x of [a, b, d]) await expectOk(c, 'PATCH', `/${x.id}`, { pin_order: 5 }, 204);
    expect(await pins()).toEqual({ a: 1, b: 2, d: 3 });
    await expectOk(c, 'PATCH', `/${d.id}`, { pin_order: 1 }, 204);
    expect(await pins()).toEqual({ d: 1, a: 2, b: 3 });
    await expectOk(c, 'PATCH', `/${d.id}`, { pin_order: 99 }, 204);
    expect(await pins()).toEqual({ a: 1, b: 2, d: 3 });
    await expectOk(c, 'PATCH', `/${a.id}`, { pin_order: 0 }, 204);
    expect(await pins()).toEqual({ a: 0, b: 1, d: 2 });
    await expectError(c, 'PATCH', `/${a.id}`, { pin_order: -1 }, 400, 'Pin order must be non-negative.');
  });

  it('an archive waits for an in-flight pin change of the same owner, so it is never re-pinned', async () => {
    const user = await addUser('archiver', ['agents-access']);
    const [a, b] = [await newChat(user.client), await newChat(user.client)];
    await expectOk(user.client, 'PATCH', `/${b.id}`, { pin_order: 1 }, 204);
    // Another connection plays a pin change in flight: it holds the owner's pin lock and
    // renumbers b, as a concurrent PATCH {pin_order} of a does.
    const other = new Client({ connectionString: h.db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [user.id]);
      const archive = user.client.raw('PATCH', `${BASE}/${b.id}`, { body: { archived: true } });
      await until(async () => {
        const { rows } = await s.db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
        );
        return rows[0].n > 0 ? true : undefined;
      }, 'the archive waiting for the pin lock');
      await other.query(`UPDATE chats SET pin_order = 2 WHERE id = $1`, [b.id]);
      await other.query(`UPDATE chats SET pin_order = 1 WHERE id = $1`, [a.id]);
      await other.query('COMMIT');
      expect((await archive).status).toBe(204);
    } finally {
      await other.end();
    }
    expect(await chatRow(b.id)).toMatchObject({ archived: true, pin_order: 0 });
  });

  it('replaces labels, sets and clears plan mode, unbinds the workspace', async () => {
    const chat = await newChat(s.alice, { labels: { a: '1', b: '2' } });
    await expectOk(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { labels: { c: '3' }, plan_mode: 'plan', workspace_id: NIL },
      204,
    );
    expect(await expectOk(s.alice, 'GET', `/${chat.id}`, undefined, 200)).toMatchObject({
      labels: { c: '3' },
      plan_mode: 'plan',
    });
    await expectOk(s.alice, 'PATCH', `/${chat.id}`, { plan_mode: '', labels: {} }, 204);
    const got = await expectOk<Json>(s.alice, 'GET', `/${chat.id}`, undefined, 200);
    expect(got.labels).toEqual({});
    expect(got).not.toHaveProperty('plan_mode');
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { plan_mode: 'explore' },
      400,
      'Invalid plan_mode value.',
    );
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { labels: { 'bad key': 'v' } },
      400,
      'Invalid labels.',
    );
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}`,
      { workspace_id: '7b0e5c2a-1111-4222-8333-444455556666' },
      400,
      'Workspace not found or you do not have access to this resource',
    );
  });

  it('changes nothing when one field of the request is invalid', async () => {
    const chat = await newChat();
    await expectError(s.alice, 'PATCH', `/${chat.id}`, { title: 'New', labels: { '-': 'x' } }, 400);
    await expectError(s.alice, 'PATCH', `/${chat.id}`, { title: 'New', archived: false }, 400);
    expect((await chatRow(chat.id)).title).toBe('hello there');
  });
});

describe('GET /chats/{chat}/messages', () => {
  let chat: ChatJson;
  let userIds: number[];
  beforeAll(async () => {
    chat = await newChat();
    // 6 more user-visible messages and one model-only one.
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, visibility, content_version)
       SELECT $1, CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END::chat_message_role,
              jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'm' || g)), 'both', 1
         FROM generate_series(1, 6) g`,
      [chat.id],
    );
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, visibility, content_version)
       VALUES ($1, 'system', '[{"type":"text","text":"hidden"}]', 'model', 1)`,
      [chat.id],
    );
    await s.db.query(
      `INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, '[{"type":"text","text":"q"}]')`,
      [chat.id],
    );
    userIds = (await dbMessages(chat.id)).filter((r) => r.visibility !== 'model').map((r) => Number(r.id));
  });

  it('returns visible messages newest first with the queue on the first page', async () => {
    const page = await expectOk<Json>(s.alice, 'GET', `/${chat.id}/messages`, undefined, 200);
    expect((page.messages as Json[]).map((m) => m.id)).toEqual([...userIds].reverse());
    expect(page.has_more).toBe(false);
    expect(page.queued_messages).toEqual([
      {
        id: expect.any(Number),
        chat_id: chat.id,
        created_at: expect.stringMatching(TIME),
        content: [expect.objectContaining({ type: 'text', text: 'q', file_id: null, url: '' })],
      },
    ]);
    const first = (page.messages as Json[]).at(-1)!;
    expect(first).toEqual({
      id: userIds[0],
      chat_id: chat.id,
      created_at: expect.stringMatching(TIME),
      role: 'user',
      created_by: s.aliceId,
      model_config_id: s.defaultConfig,
      content: [
        {
          type: 'text',
          text: 'hello there',
          url: '',
          media_type: '',
          file_name: '',
          start_line: 0,
          end_line: 0,
          content: '',
          context_file_path: '',
          skill_name: '',
          mcp_server_config_id: null,
          file_id: null,
          context_file_agent_id: null,
        },
      ],
    });
  });

  it('pages with limit and before_id; later pages carry no queue', async () => {
    const one = await expectOk<Json>(s.alice, 'GET', `/${chat.id}/messages?limit=3`, undefined, 200);
    const ids = (one.messages as Json[]).map((m) => m.id as number);
    expect(ids).toEqual([...userIds].reverse().slice(0, 3));
    expect(one.has_more).toBe(true);
    const two = await expectOk<Json>(
      s.alice,
      'GET',
      `/${chat.id}/messages?limit=3&before_id=${ids[2]}`,
      undefined,
      200,
    );
    expect((two.messages as Json[]).map((m) => m.id)).toEqual([...userIds].reverse().slice(3, 6));
    expect(two.has_more).toBe(true);
    expect(two.queued_messages).toEqual([]);
    const last = await expectOk<Json>(
      s.alice,
      'GET',
      `/${chat.id}/messages?before_id=${userIds[1]}`,
      undefined,
      200,
    );
    expect((last.messages as Json[]).map((m) => m.id)).toEqual([userIds[0]]);
    expect(last.has_more).toBe(false);
  });

  it.each(['0', '201', '-1', 'abc', '1.5'])('refuses limit=%s', async (limit) => {
    await expectError(
      s.alice,
      'GET',
      `/${chat.id}/messages?limit=${limit}`,
      undefined,
      400,
      'Invalid limit parameter (1-200).',
    );
  });

  it.each(['0', '-1', 'abc', '99999999999999999999'])('refuses before_id=%s', async (id) => {
    await expectError(
      s.alice,
      'GET',
      `/${chat.id}/messages?before_id=${id}`,
      undefined,
      400,
      'Invalid before_id parameter.',
    );
  });

  it('accepts limit=1 and limit=200', async () => {
    expect(
      (
        (await expectOk<Json>(s.alice, 'GET', `/${chat.id}/messages?limit=1`, undefined, 200))
          .messages as Json[]
      ).length,
    ).toBe(1);
    await expectOk(s.alice, 'GET', `/${chat.id}/messages?limit=200`, undefined, 200);
  });
});

describe('POST /chats/{chat}/messages', () => {
  const send = (chatId: string, body: Json) =>
    expectOk<Json>(s.alice, 'POST', `/${chatId}/messages`, body, 200);

  it('inserts the message and sets pending when the chat is idle', async () => {
    const chat = await newChat();
    await setState(chat.id, 'error');
    await s.db.query(`UPDATE chats SET last_error = 'boom' WHERE id = $1`, [chat.id]);
    const stream = await listen<ChatStreamMessage>(`${h.prefix}.chat.${chat.id}.stream`);
    const wake = await listen<Json>(`${h.prefix}.chatd.wake`);
    const res = await send(chat.id, { content: text('next please') });
    expect(res).toEqual({
      queued: false,
      message: expect.objectContaining({
        id: expect.any(Number),
        role: 'user',
        created_by: s.aliceId,
        model_config_id: s.defaultConfig,
        content: [expect.objectContaining({ type: 'text', text: 'next please' })],
      }),
    });
    expect(await chatRow(chat.id)).toMatchObject({ status: 'pending', worker_id: null, last_error: null });
    const events = await until(
      () => (stream.msgs.length ? stream.msgs[0].events : undefined),
      'stream events',
    );
    expect(events.map((e) => e.type)).toEqual(['message', 'status']);
    expect(events[1]).toEqual({ type: 'status', chat_id: chat.id, status: { status: 'pending' } });
    await until(() => wake.msgs.find((m) => m.chat_id === chat.id), 'wake');
    const lifecycle = await waitForEvents(s.aliceId, chat.id, ['created', 'status_change']);
    expect(lifecycle[1].chat).toMatchObject({
      status: 'pending',
      last_error: null,
      last_model_config_id: s.defaultConfig,
    });
    stream.stop();
    wake.stop();
  });

  it('switches the model config with model_config_id', async () => {
    const chat = await newChat();
    await setState(chat.id, 'waiting');
    const res = await send(chat.id, {
      content: text('x'),
      model_config_id: s.otherConfig,
      plan_mode: 'plan',
    });
    expect((res.message as Json).model_config_id).toBe(s.otherConfig);
    expect(await chatRow(chat.id)).toMatchObject({ last_model_config_id: s.otherConfig, plan_mode: 'plan' });
    await setState(chat.id, 'waiting');
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('x'), model_config_id: s.disabledConfig },
      400,
      'Invalid model config ID.',
    );
  });

  it.each(['pending', 'running', 'requires_action'])('queues while the chat is %s', async (status) => {
    const chat = await newChat();
    await setState(chat.id, status, { worker: status === 'running' ? WORKER : null });
    const res = await send(chat.id, { content: text('later') });
    expect(res).toEqual({
      queued: true,
      queued_message: {
        id: expect.any(Number),
        chat_id: chat.id,
        created_at: expect.stringMatching(TIME),
        content: [expect.objectContaining({ type: 'text', text: 'later' })],
      },
    });
    expect((await chatRow(chat.id)).status).toBe(status);
    expect(await queueIds(chat.id)).toEqual([(res.queued_message as Json).id]);
  });

  it('queues behind a non-empty queue while a worker winds down', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', { worker: WORKER });
    await send(chat.id, { content: text('one') });
    await setState(chat.id, 'waiting', { worker: WORKER, clearQueue: false });
    expect((await send(chat.id, { content: text('two') })).queued).toBe(true);
    expect(await queueIds(chat.id)).toHaveLength(2);
    expect((await chatRow(chat.id)).status).toBe('waiting');
  });

  it('promotes the queue of an idle chat that nobody will promote', async () => {
    const chat = await newChat();
    await send(chat.id, { content: text('stuck') }); // pending: queued
    await setState(chat.id, 'waiting', { worker: WORKER, clearQueue: false, heartbeatAgoS: 600 });
    expect((await send(chat.id, { content: text('two') })).queued).toBe(true);
    expect(await queueIds(chat.id)).toHaveLength(1);
    expect(await chatRow(chat.id)).toMatchObject({ status: 'pending', worker_id: null });
    const rows = await dbMessages(chat.id);
    expect((rows.at(-1)!.content as Json[])[0].text).toBe('stuck');
  });

  it('interrupt: queues and sets a running chat waiting, telling its worker', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', { worker: WORKER });
    const control = await listen<Json>(`${h.prefix}.chatd.control.${WORKER}`);
    const res = await send(chat.id, { content: text('stop and do this'), busy_behavior: 'interrupt' });
    expect(res.queued).toBe(true);
    // The worker keeps its id while it winds down; its cleanup promotes the queue.
    expect(await chatRow(chat.id)).toMatchObject({ status: 'waiting', worker_id: WORKER });
    expect(await queueIds(chat.id)).toHaveLength(1);
    await until(() => control.msgs[0], 'control');
    expect(control.msgs[0]).toEqual({ v: 1, chat_id: chat.id, reason: 'interrupt', status: 'waiting' });
    control.stop();
  });

  it('interrupt does not overwrite pending', async () => {
    const chat = await newChat();
    expect((await send(chat.id, { content: text('x'), busy_behavior: 'interrupt' })).queued).toBe(true);
    expect((await chatRow(chat.id)).status).toBe('pending');
  });

  it('interrupt on requires_action answers the open tool calls and sends the message at once', async () => {
    const chat = await newChat();
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, content_version)
       VALUES ($1, 'assistant', '[{"type":"tool-call","tool_call_id":"call_1","tool_name":"ask","args":{}}]', 1)`,
      [chat.id],
    );
    await setState(chat.id, 'requires_action');
    expect((await send(chat.id, { content: text('never mind'), busy_behavior: 'interrupt' })).queued).toBe(
      true,
    );
    expect(await chatRow(chat.id)).toMatchObject({ status: 'pending', worker_id: null });
    expect(await queueIds(chat.id)).toEqual([]);
    const rows = await dbMessages(chat.id);
    expect(rows.slice(-2).map((r) => r.role)).toEqual(['tool', 'user']);
    expect((rows.at(-2)!.content as Json[])[0]).toMatchObject({
      type: 'tool-result',
      tool_call_id: 'call_1',
      is_error: true,
      result: { error: 'Tool execution interrupted by user' },
    });
  });

  it('refuses an unknown busy_behavior', async () => {
    const chat = await newChat();
    for (const busy_behavior of ['later', 'QUEUE', 5, true])
      await expectError(
        s.alice,
        'POST',
        `/${chat.id}/messages`,
        { content: text('x'), busy_behavior },
        400,
        'Invalid busy_behavior value.',
      );
    expect(await queueIds(chat.id)).toEqual([]);
  });

  it('caps the queue at 20 (429)', async () => {
    const chat = await newChat();
    for (let i = 0; i < 20; i++) await send(chat.id, { content: text(`q${i}`) });
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('one too many') },
      429,
      'Message queue is full.',
    );
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('one too many'), busy_behavior: 'interrupt' },
      429,
      'Message queue is full.',
    );
    expect(await queueIds(chat.id)).toHaveLength(20);
  });

  it('validates content like creation', async () => {
    const chat = await newChat();
    await expectError(s.alice, 'POST', `/${chat.id}/messages`, { content: [] }, 400, 'Content is required.');
    const body = await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: [{ type: 'file' }] },
      400,
      'Invalid input part.',
    );
    expect(body.detail).toContain('content[0]');
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/messages`,
      { content: text('x'), mcp_server_ids: ['7b0e5c2a-1111-4222-8333-444455556666'] },
      400,
      'One or more MCP server IDs are invalid.',
    );
  });
});

describe('PATCH /chats/{chat}/messages/{message}', () => {
  it('soft-deletes the target and later messages, inserts the edit, clears the queue and sets pending', async () => {
    const chat = await newChat();
    const first = (await dbMessages(chat.id)).at(-1)!;
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, 'assistant', '[]', 1)`,
      [chat.id],
    );
    await setState(chat.id, 'running', { worker: WORKER });
    await expectOk(s.alice, 'POST', `/${chat.id}/messages`, { content: text('queued') }, 200);
    const control = await listen<Json>(`${h.prefix}.chatd.control.${WORKER}`);
    const res = await expectOk<Json>(
      s.alice,
      'PATCH',
      `/${chat.id}/messages/${first.id}`,
      { content: text('edited') },
      200,
    );
    expect(res).toEqual({
      message: expect.objectContaining({
        role: 'user',
        created_by: s.aliceId,
        model_config_id: s.defaultConfig,
        content: [expect.objectContaining({ type: 'text', text: 'edited' })],
      }),
    });
    const rows = await dbMessages(chat.id);
    expect(rows.map((r) => [r.role, r.deleted])).toEqual([
      ['system', false],
      ['system', false],
      ['user', true],
      ['assistant', true],
      ['user', false],
    ]);
    expect(rows.at(-1)!.visibility).toBe('both');
    expect(await queueIds(chat.id)).toEqual([]);
    expect(await chatRow(chat.id)).toMatchObject({ status: 'pending', worker_id: null });
    await until(() => control.msgs[0], 'control');
    expect(control.msgs[0]).toEqual({ v: 1, chat_id: chat.id, reason: 'edit', status: 'pending' });
    control.stop();
    const page = await expectOk<Json>(s.alice, 'GET', `/${chat.id}/messages`, undefined, 200);
    expect((page.messages as Json[]).map((m) => m.id)).toEqual([(res.message as Json).id]);
  });

  it('edits only live user messages of this chat', async () => {
    const chat = await newChat();
    const other = await newChat();
    const rows = await dbMessages(chat.id);
    const system = rows[0];
    const user = rows.at(-1)!;
    const [{ id: assistant }] = (
      await s.db.query(
        `INSERT INTO chat_messages (chat_id, role, content, content_version) VALUES ($1, 'assistant', '[]', 1) RETURNING id`,
        [chat.id],
      )
    ).rows;
    const edit = (id: unknown) =>
      call(s.alice, 'PATCH', `/${chat.id}/messages/${id}`, { content: text('e') });
    expect((await edit(assistant)).body).toMatchObject({ message: 'Only user messages can be edited.' });
    expect((await edit(system.id)).status).toBe(400);
    const otherUser = (await dbMessages(other.id)).at(-1)!;
    expect(await edit(otherUser.id)).toMatchObject({
      status: 404,
      body: { message: 'Chat message not found.' },
    });
    expect(await edit(999999999)).toMatchObject({
      status: 404,
      body: { message: 'Chat message not found.' },
    });
    await expectOk(s.alice, 'PATCH', `/${chat.id}/messages/${user.id}`, { content: text('first edit') }, 200);
    expect(await edit(user.id)).toMatchObject({ status: 404, body: { message: 'Chat message not found.' } });
    for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999'])
      expect(await edit(bad)).toMatchObject({ status: 400, body: { message: 'Invalid chat message ID.' } });
    await expectError(
      s.alice,
      'PATCH',
      `/${chat.id}/messages/${user.id}`,
      { content: [] },
      400,
      'Content is required.',
    );
  });
});

describe('queue: DELETE and promote', () => {
  it('deletes one queued message (204), idempotently', async () => {
    const chat = await newChat();
    const a = (await expectOk<Json>(s.alice, 'POST', `/${chat.id}/messages`, { content: text('a') }, 200))
      .queued_message as Json;
    const b = (await expectOk<Json>(s.alice, 'POST', `/${chat.id}/messages`, { content: text('b') }, 200))
      .queued_message as Json;
    const stream = await listen<ChatStreamMessage>(`${h.prefix}.chat.${chat.id}.stream`);
    const res = await call(s.alice, 'DELETE', `/${chat.id}/queue/${a.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(await queueIds(chat.id)).toEqual([b.id]);
    const [update] = await until(() => stream.msgs[0]?.events, 'queue_update');
    expect(update).toMatchObject({ type: 'queue_update', chat_id: chat.id, queued_messages: [{ id: b.id }] });
    stream.stop();
    expect((await call(s.alice, 'DELETE', `/${chat.id}/queue/${a.id}`)).status).toBe(204);
    for (const bad of ['abc', '0', '-3', '1e3'])
      await expectError(
        s.alice,
        'DELETE',
        `/${chat.id}/queue/${bad}`,
        undefined,
        400,
        'Invalid queued message ID.',
      );
  });

  it('promotes a queued message: it becomes a user message and the running turn is interrupted', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', { worker: WORKER });
    const a = (await expectOk<Json>(s.alice, 'POST', `/${chat.id}/messages`, { content: text('a') }, 200))
      .queued_message as Json;
    const b = (await expectOk<Json>(s.alice, 'POST', `/${chat.id}/messages`, { content: text('b') }, 200))
      .queued_message as Json;
    const control = await listen<Json>(`${h.prefix}.chatd.control.${WORKER}`);
    const msg = await expectOk<Json>(s.alice, 'POST', `/${chat.id}/queue/${b.id}/promote`, undefined, 200);
    expect(msg).toMatchObject({
      id: expect.any(Number),
      chat_id: chat.id,
      role: 'user',
      created_by: s.aliceId,
      content: [expect.objectContaining({ type: 'text', text: 'b' })],
    });
    expect(await queueIds(chat.id)).toEqual([a.id]);
    expect(await chatRow(chat.id)).toMatchObject({ status: 'pending', worker_id: null });
    await until(() => control.msgs[0], 'control');
    expect(control.msgs[0]).toEqual({ v: 1, chat_id: chat.id, reason: 'interrupt', status: 'pending' });
    control.stop();
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/queue/${b.id}/promote`,
      undefined,
      404,
      'Queued message not found.',
    );
    await expectError(
      s.alice,
      'POST',
      `/${chat.id}/queue/abc/promote`,
      undefined,
      400,
      'Invalid queued message ID.',
    );
  });
});

describe('POST /chats/{chat}/interrupt', () => {
  it('sets a running chat waiting, tells its worker and returns the chat', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', { worker: WORKER });
    const control = await listen<Json>(`${h.prefix}.chatd.control.${WORKER}`);
    const res = await expectOk<ChatJson>(s.alice, 'POST', `/${chat.id}/interrupt`, undefined, 200);
    expect(res).toMatchObject({
      id: chat.id,
      status: 'waiting',
      last_model_config_id: s.defaultConfig,
      children: [],
    });
    expect(await chatRow(chat.id)).toMatchObject({ status: 'waiting', worker_id: WORKER });
    await until(() => control.msgs[0], 'control');
    expect(control.msgs[0]).toEqual({ v: 1, chat_id: chat.id, reason: 'interrupt', status: 'waiting' });
    control.stop();
    const events = await waitForEvents(s.aliceId, chat.id, ['created', 'status_change']);
    expect(events[1].chat).toMatchObject({ status: 'waiting', last_model_config_id: s.defaultConfig });
  });

  it('cancels a pending chat and leaves an idle one alone', async () => {
    const chat = await newChat();
    expect((await expectOk<ChatJson>(s.alice, 'POST', `/${chat.id}/interrupt`, undefined, 200)).status).toBe(
      'waiting',
    );
    expect((await expectOk<ChatJson>(s.alice, 'POST', `/${chat.id}/interrupt`, undefined, 200)).status).toBe(
      'waiting',
    );
    await waitForEvents(s.aliceId, chat.id, ['created', 'status_change']);
    expect((await chatEvents(s.aliceId, chat.id)).map((e) => e.kind)).toEqual(['created', 'status_change']);
  });

  it('on a chat with no worker, sends the head of the queue', async () => {
    const chat = await newChat();
    await expectOk(s.alice, 'POST', `/${chat.id}/messages`, { content: text('next') }, 200);
    const res = await expectOk<ChatJson>(s.alice, 'POST', `/${chat.id}/interrupt`, undefined, 200);
    expect(res.status).toBe('pending');
    expect(await queueIds(chat.id)).toEqual([]);
  });
});

describe('malformed input', () => {
  let chat: ChatJson;
  beforeAll(async () => {
    chat = await newChat();
  });

  const huge = 'x'.repeat(2 * 1024 * 1024);
  const deep = JSON.parse('['.repeat(40) + ']'.repeat(40));
  // Bad on every body endpoint.
  const common: unknown[] = [
    [],
    'text',
    42,
    null,
    true,
    { content: 'hello' },
    { content: [1, 2] },
    { content: [null] },
    { content: [{ type: 5 }] },
    { content: [{ type: 'text', text: { nested: true } }] },
    { content: deep },
    { content: [{ type: 'text', text: 'a\u0000b' }] },
    { content: text(huge) },
    { content: Array.from({ length: 5000 }, () => ({ type: 'file', file_id: NIL })) },
  ];
  // Bad fields next to otherwise valid bodies.
  const byEndpoint: Record<string, { base: Json; bad: Json[] }> = {
    create: {
      base: { content: text('x') },
      bad: [
        { organization_id: 5 },
        { organization_id: 'not-a-uuid' },
        { organization_id: ['x'] },
        { model_config_id: 'nope' },
        { model_config_id: 7 },
        { mcp_server_ids: 'x' },
        { mcp_server_ids: ['nope'] },
        { labels: [] },
        { labels: 'x' },
        { labels: { k: 5 } },
        { labels: { ['k'.repeat(100)]: 'v' } },
        { system_prompt: 5 },
        { system_prompt: 'x'.repeat(200_000) },
        { plan_mode: {} },
        { client_type: [] },
        { unsafe_dynamic_tools: {} },
        { unsafe_dynamic_tools: [{}] },
        { unsafe_dynamic_tools: [{ name: 'x', input_schema: 'no' }] },
        { workspace_id: 5 },
        { workspace_id: 'x' },
      ],
    },
    send: {
      base: { content: text('x') },
      bad: [
        { model_config_id: 'nope' },
        { model_config_id: 7 },
        { model_config_id: '7b0e5c2a-1111-4222-8333-444455556666' },
        { mcp_server_ids: 'x' },
        { mcp_server_ids: ['nope'] },
        { busy_behavior: {} },
        { busy_behavior: 'x' },
        { plan_mode: 5 },
        { plan_mode: 'x' },
      ],
    },
    update: {
      base: {},
      bad: [
        { title: 5 },
        { title: '' },
        { title: huge.slice(0, 100_000) },
        { archived: 'yes' },
        { archived: null, title: 7 },
        { pin_order: 1.5 },
        { pin_order: 'x' },
        { pin_order: -1 },
        { labels: [] },
        { labels: { k: 5 } },
        { workspace_id: 5 },
        { workspace_id: 'x' },
        { plan_mode: {} },
        { plan_mode: 'x' },
      ],
    },
    edit: { base: {}, bad: [] },
  };
  const badChatRefs = ['abc', '1', 'a'.repeat(5000), '%00', '7b0e5c2a-1111-4222-8333-44445555666g', 'null'];
  const badIds = ['abc', '0', '-1', '1.5', '1e3', '99999999999999999999', '%20', 'a'.repeat(3000)];

  const expect4xx = async (
    method: string,
    path: string,
    opts: Parameters<AgentmeshClient['raw']>[2] = {},
  ) => {
    const res = await s.alice.raw(method, `${BASE}${path}`, opts);
    if (res.status < 400 || res.status >= 500)
      throw new Error(
        `${method} ${path.slice(0, 80)} ${JSON.stringify(opts).slice(0, 120)} → ${res.status} ${String(JSON.stringify(res.body)).slice(0, 200)}`,
      );
    expect(typeof (res.body as Json).message).toBe('string');
  };

  it('answers bad bodies on every body endpoint with 4xx', async () => {
    const endpoints: [string, string, keyof typeof byEndpoint][] = [
      ['POST', '', 'create'],
      ['PATCH', `/${chat.id}`, 'update'],
      ['POST', `/${chat.id}/messages`, 'send'],
      ['PATCH', `/${chat.id}/messages/1`, 'edit'],
    ];
    for (const [method, path, kind] of endpoints) {
      const { base, bad } = byEndpoint[kind];
      const withOrg = kind === 'create' ? { organization_id: s.orgId } : {};
      // Content is no field of a chat PATCH: there only the non-object bodies are bad.
      for (const body of common.filter((b) => kind !== 'update' || !isObject(b)))
        await expect4xx(method, path, {
          body: isObject(body) ? { ...withOrg, ...body } : body,
        });
      for (const patch of bad) await expect4xx(method, path, { body: { ...withOrg, ...base, ...patch } });
      await expect4xx(method, path, {
        rawBody: '{"content": [',
        headers: { 'Content-Type': 'application/json' },
      });
      await expect4xx(method, path, {
        rawBody: 'content=x',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      await expect4xx(method, path, { rawBody: ' ', headers: { 'Content-Type': 'application/json' } });
    }
    expect(await chatRow(chat.id)).toMatchObject({ title: 'hello there', status: 'pending' });
    expect(await queueIds(chat.id)).toEqual([]);
  });

  it('never answers a field sent as null with a 5xx', async () => {
    const fields: Record<string, [string, string, Json, string[]]> = {
      create: [
        'POST',
        '',
        { organization_id: s.orgId, content: text('x') },
        [
          'organization_id',
          'content',
          'model_config_id',
          'mcp_server_ids',
          'labels',
          'system_prompt',
          'plan_mode',
          'client_type',
          'unsafe_dynamic_tools',
          'workspace_id',
        ],
      ],
      send: [
        'POST',
        `/${chat.id}/messages`,
        { content: text('x') },
        ['content', 'model_config_id', 'mcp_server_ids', 'busy_behavior', 'plan_mode'],
      ],
      update: [
        'PATCH',
        `/${chat.id}`,
        {},
        ['title', 'archived', 'pin_order', 'labels', 'workspace_id', 'plan_mode'],
      ],
      edit: ['PATCH', `/${chat.id}/messages/1`, { content: text('x') }, ['content']],
    };
    for (const [method, path, base, names] of Object.values(fields))
      for (const name of names) {
        const res = await s.alice.raw(method, `${BASE}${path}`, { body: { ...base, [name]: null } });
        expect({ method, path, name, status: res.status < 500 ? 'not 5xx' : res.status }).toEqual({
          method,
          path,
          name,
          status: 'not 5xx',
        });
      }
  });

  it('answers bad path ids and queries with 4xx', async () => {
    for (const ref of badChatRefs) {
      await expect4xx('GET', `/${ref}`);
      await expect4xx('PATCH', `/${ref}`, { body: { title: 'x' } });
      await expect4xx('GET', `/${ref}/messages`);
      await expect4xx('POST', `/${ref}/messages`, { body: { content: text('x') } });
      await expect4xx('PATCH', `/${ref}/messages/1`, { body: { content: text('x') } });
      await expect4xx('DELETE', `/${ref}/queue/1`);
      await expect4xx('POST', `/${ref}/queue/1/promote`);
      await expect4xx('POST', `/${ref}/interrupt`);
      await expect4xx('POST', `/${ref}/title/regenerate`);
    }
    for (const id of badIds) {
      await expect4xx('PATCH', `/${chat.id}/messages/${id}`, { body: { content: text('x') } });
      await expect4xx('DELETE', `/${chat.id}/queue/${id}`);
      await expect4xx('POST', `/${chat.id}/queue/${id}/promote`);
      await expect4xx('GET', `/${chat.id}/messages?before_id=${id}`);
      await expect4xx('GET', `/${chat.id}/messages?limit=${id}`);
    }
    for (const qs of [
      '?limit=1&limit=2',
      '?offset=-1',
      '?offset=abc',
      '?after_id=1&offset=2',
      '?q=archived:true&q=archived:false',
      `?q=${'archived:x '.repeat(500)}`,
      `?label=${'k'.repeat(5000)}`,
      '?label=a%00:b',
      `?limit=${'9'.repeat(400)}`,
    ])
      await expect4xx('GET', qs);
    await expect4xx('GET', `/${chat.id}/messages?limit=1&limit=2`);
    await expect4xx('POST', `/${chat.id}/queue/424242/promote`);
    await expect4xx('PATCH', `/${chat.id}/messages/424242`, { body: { content: text('x') } });
  });

  it('answers unauthenticated requests with 401', async () => {
    const anon = h.client();
    expect((await anon.raw('GET', BASE)).status).toBe(401);
    expect(
      (await anon.raw('POST', BASE, { body: { organization_id: s.orgId, content: text('x') } })).status,
    ).toBe(401);
    expect((await anon.raw('GET', `${BASE}/${chat.id}`)).status).toBe(401);
  });
});

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
