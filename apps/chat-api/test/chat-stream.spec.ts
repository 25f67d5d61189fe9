// The live-update sockets against two real chat-api instances on one database and one NATS
// prefix (no worker runs: tests play the worker by publishing stream events and answering
// buffer requests on raw NATS, and move chats' status with SQL): the stream snapshot (order,
// contents, after_id, 256-event frames), live events exactly once and in order (message ids,
// part seqs, duplicates, retry and new-turn resets), the worker's buffer merged without
// duplicates, both replicas streaming the same events, the HTTP errors before the upgrade,
// every credential form, the read cursor (moved only over messages the socket sent), /watch
// for the caller's own chats, and shutdown.
import { randomUUID } from 'node:crypto';
import { connect, headers as natsHeaders, Msg, NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import WebSocket from 'ws';
import { chatApiSchema, loadConfig } from '@agentmesh/config';
import { AgentmeshClient } from '@agentmesh/contracts';
import { RunningApp, startApp } from '@agentmesh/observability';
import { appTestEnv, TEST_NATS_URL } from '@agentmesh/testing';
import { chatApiOptions } from '../src/bootstrap';
import { ChatStreamHub } from '../src/chat-stream/chat-stream-hub';
import { setupOwner, useChatApi } from './harness';

const BASE = '/api/experimental/chats';
const NOT_FOUND = 'Resource not found or you do not have access to this resource';
const WORKER = '11111111-2222-4333-8444-555555555555';
const OTHER_WORKER = '99999999-2222-4333-8444-555555555555';
const ENV = { LOGIN_RATE_LIMIT_ACCOUNT: '1000', LOGIN_RATE_LIMIT_IP: '1000' };

type Json = Record<string, unknown>;
type Event = Json & { type: string; chat_id: string };

const h = useChatApi(ENV);

/** A second chat-api on the same database and NATS prefix: another replica. */
let second: RunningApp;

const s = {} as {
  owner: AgentmeshClient;
  orgId: string;
  alice: AgentmeshClient;
  aliceId: string;
  bob: AgentmeshClient;
  bobId: string;
  db: Client;
  nc: NatsConnection;
};

async function addUser(name: string): Promise<{ client: AgentmeshClient; id: string }> {
  const user = await s.owner.createUser({
    email: `${name}@example.com`,
    username: name,
    password: `${name} password 1`,
    user_status: 'active',
    organization_ids: [s.orgId],
  });
  await s.owner.updateMemberRoles(s.orgId, name, ['agents-access']);
  const client = h.client();
  await client.login({ email: `${name}@example.com`, password: `${name} password 1` });
  return { client, id: user.id };
}

beforeAll(async () => {
  second = await startApp(
    chatApiOptions(() => loadConfig(chatApiSchema, appTestEnv(h.db.url, h.prefix, ENV))),
  );
  const o = await setupOwner(h);
  Object.assign(s, { owner: o.client, orgId: o.orgId });
  const alice = await addUser('alice');
  Object.assign(s, { alice: alice.client, aliceId: alice.id });
  const bob = await addUser('bob');
  Object.assign(s, { bob: bob.client, bobId: bob.id });
  s.db = new Client({ connectionString: h.db.url });
  await s.db.connect();
  await s.db.query(`INSERT INTO chat_providers (provider, display_name) VALUES ('openai', 'OpenAI')`);
  await s.db.query(
    `INSERT INTO chat_model_configs (provider, model, display_name, context_limit, is_default, enabled, deleted)
     VALUES ('openai', 'gpt-default', 'gpt-default', 128000, true, true, false)`,
  );
  s.nc = await connect({ servers: TEST_NATS_URL });
});

afterAll(async () => {
  await second?.close();
  await s.db?.end();
  await s.nc?.close();
});

// ---------------------------------------------------------------------------------------
// helpers

async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newChat(c: AgentmeshClient = s.alice, text = 'hello there'): Promise<Json & { id: string }> {
  const res = await c.raw('POST', BASE, {
    body: { organization_id: s.orgId, content: [{ type: 'text', text }] },
  });
  if (res.status !== 201) throw new Error(`create chat: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Json & { id: string };
}

/** Plays the worker's status write. */
async function setState(chatId: string, status: string, worker: string | null = null): Promise<void> {
  await s.db.query(`UPDATE chats SET status = $2, worker_id = $3, heartbeat_at = now() WHERE id = $1`, [
    chatId,
    status,
    worker,
  ]);
}

async function insertMessage(
  chatId: string,
  role: string,
  text: string,
  visibility = 'both',
): Promise<number> {
  const { rows } = await s.db.query(
    `INSERT INTO chat_messages (chat_id, role, content, visibility, content_version)
     VALUES ($1, $2, $3, $4, 1) RETURNING id`,
    [chatId, role, JSON.stringify([{ type: 'text', text }]), visibility],
  );
  return Number(rows[0].id);
}

async function lastRead(chatId: string): Promise<number | null> {
  const { rows } = await s.db.query(`SELECT last_read_message_id FROM chats WHERE id = $1`, [chatId]);
  return rows[0].last_read_message_id === null ? null : Number(rows[0].last_read_message_id);
}

async function newestMessageId(chatId: string): Promise<number> {
  const { rows } = await s.db.query(`SELECT max(id) AS id FROM chat_messages WHERE chat_id = $1`, [chatId]);
  return Number(rows[0].id);
}

/** Publishes stream events as the worker does. */
function publish(chatId: string, events: Json[]): void {
  s.nc.publish(`${h.prefix}.chat.${chatId}.stream`, JSON.stringify({ v: 1, events }));
}

const part = (chatId: string, seq: number, text = `p${seq}`): Event => ({
  type: 'message_part',
  chat_id: chatId,
  message_part: { role: 'assistant', part: { type: 'text', text }, seq },
});
const status = (chatId: string, st: string): Event => ({
  type: 'status',
  chat_id: chatId,
  status: { status: st },
});
const retry = (chatId: string): Event => ({
  type: 'retry',
  chat_id: chatId,
  retry: { attempt: 1, delay_ms: 10, error: 'overloaded', retrying_at: new Date().toISOString() },
});
const message = (chatId: string, id: number, role = 'assistant'): Event => ({
  type: 'message',
  chat_id: chatId,
  message: { id, chat_id: chatId, created_at: new Date().toISOString(), role, content: [] },
});

/** A short description of an event for order assertions. */
function tag(e: Event): string {
  switch (e.type) {
    case 'message_part':
      return `part:${(e.message_part as Json).seq}:${((e.message_part as Json).part as Json).text}`;
    case 'message':
      return `message:${(e.message as Json).id}`;
    case 'status':
      return `status:${(e.status as Json).status}`;
    case 'queue_update':
      return `queue:${(e.queued_messages as Json[]).length}`;
    default:
      return e.type;
  }
}

interface Sock {
  ws: WebSocket;
  frames: string[];
  events: Event[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the events once `pred` holds for them. */
  waitFor(pred: (events: Event[]) => boolean, what: string, ms?: number): Promise<Event[]>;
  /** The snapshot (everything up to and including the first queue_update). */
  snapshot(): Promise<Event[]>;
  close(): Promise<void>;
}

type Credential =
  | { via: 'header' | 'query' | 'cookie' | 'bearer'; token: string }
  | { via: 'none' }
  | { via: 'headers'; headers: Record<string, string> };

function wsUrl(base: string, path: string, query: Record<string, string> = {}): string {
  const u = new URL(path, base.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}

function wsArgs(
  base: string,
  path: string,
  cred: Credential,
  query: Record<string, string> = {},
): [string, { headers: Record<string, string> }] {
  const headers: Record<string, string> = {};
  const q = { ...query };
  if (cred.via === 'header') headers['Coder-Session-Token'] = cred.token;
  if (cred.via === 'bearer') headers.Authorization = `Bearer ${cred.token}`;
  if (cred.via === 'cookie') headers.Cookie = `coder_session_token=${cred.token}`;
  if (cred.via === 'query') q.coder_session_token = cred.token;
  if (cred.via === 'headers') Object.assign(headers, cred.headers);
  return [wsUrl(base, path, q), { headers }];
}

const as = (c: AgentmeshClient): Credential => ({ via: 'header', token: c.sessionToken! });

/** Opens a socket; rejects with the HTTP response when the upgrade is refused. */
function openSocket(
  path: string,
  cred: Credential,
  opts: { query?: Record<string, string>; base?: string } = {},
): Promise<Sock> {
  const [url, wsOpts] = wsArgs(opts.base ?? h.url, path, cred, opts.query);
  const ws = new WebSocket(url, wsOpts);
  const frames: string[] = [];
  const events: Event[] = [];
  ws.on('message', (data, isBinary) => {
    expect(isBinary).toBe(false);
    const text = data.toString();
    frames.push(text);
    const parsed = JSON.parse(text) as Event | Event[];
    if (Array.isArray(parsed)) events.push(...parsed);
    else events.push(parsed);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const sock: Sock = {
    ws,
    frames,
    events,
    closed,
    waitFor: (pred, what, ms = 5000) => until(() => (pred(events) ? events : undefined), what, ms),
    snapshot: async () => {
      await until(() => events.some((e) => e.type === 'queue_update'), 'the snapshot');
      return events.slice(0, events.findIndex((e) => e.type === 'queue_update') + 1);
    },
    close: async () => {
      ws.close();
      await closed;
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(sock));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body }),
        ),
      );
    });
    ws.once('error', reject);
  });
}

/** The HTTP response that refused an upgrade. */
async function refused(
  path: string,
  cred: Credential,
  query: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  try {
    const sock = await openSocket(path, cred, { query });
    await sock.close();
  } catch (e) {
    const err = e as { status?: number; body?: string };
    if (err.status === undefined) throw e;
    return { status: err.status, body: err.body ? (JSON.parse(err.body) as Json) : {} };
  }
  throw new Error(`upgrade of ${path} was accepted`);
}

const streamPath = (chatId: string) => `${BASE}/${chatId}/stream`;

// ---------------------------------------------------------------------------------------

describe('GET /chats/{chat}/stream: before the upgrade', () => {
  it('is 401 without a credential or with a bad one', async () => {
    const chat = await newChat();
    const none = await refused(streamPath(chat.id), { via: 'none' });
    expect(none).toEqual({ status: 401, body: expect.objectContaining({ message: expect.any(String) }) });
    const bad = await refused(streamPath(chat.id), {
      via: 'header',
      token: 'abcdefghij-0123456789012345678901',
    });
    expect(bad.status).toBe(401);
    expect(bad.body.message).toBe('Invalid session token.');
  });

  it("is 404 for another user's chat and for a chat that does not exist, 400 for a malformed id", async () => {
    const chat = await newChat(s.bob);
    expect(await refused(streamPath(chat.id), as(s.alice))).toEqual({
      status: 404,
      body: { message: NOT_FOUND },
    });
    expect((await refused(streamPath('00000000-0000-4000-8000-000000000001'), as(s.alice))).status).toBe(404);
    expect((await refused(streamPath('not-a-uuid'), as(s.alice))).status).toBe(400);
  });

  it('is 400 "Invalid after_id parameter." for anything but a non-negative integer', async () => {
    const chat = await newChat();
    for (const after of ['-1', 'abc', '1.5', '1e3', '99999999999999999', ' 1']) {
      expect(await refused(streamPath(chat.id), as(s.alice), { after_id: after })).toEqual({
        status: 400,
        body: { message: 'Invalid after_id parameter.' },
      });
    }
    // A missing chat is reported before a bad after_id (authorization first).
    expect((await refused(streamPath(WORKER), as(s.alice), { after_id: 'x' })).status).toBe(404);
  });

  it('answers a plain GET (no upgrade) with 426, after authentication', async () => {
    const chat = await newChat();
    const anon = await h.client().raw('GET', streamPath(chat.id));
    expect(anon.status).toBe(401);
    const res = await s.alice.raw('GET', streamPath(chat.id));
    expect(res.status).toBe(426);
    expect((await s.alice.raw('GET', `${BASE}/watch`)).status).toBe(426);
  });

  it('accepts the token as header, cookie, bearer or coder_session_token query parameter', async () => {
    const chat = await newChat();
    const token = s.alice.sessionToken!;
    for (const via of ['header', 'cookie', 'bearer', 'query'] as const) {
      const sock = await openSocket(streamPath(chat.id), { via, token });
      const snap = await sock.snapshot();
      expect(snap[0]).toEqual({ type: 'status', chat_id: chat.id, status: { status: 'pending' } });
      await sock.close();
    }
  });
});

describe('GET /chats/{chat}/stream: the snapshot', () => {
  it('sends status, the visible messages ascending, then the queue, as JSON-array frames ending in a newline', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', WORKER);
    const assistant = await insertMessage(chat.id, 'assistant', 'an answer');
    await insertMessage(chat.id, 'system', 'hidden', 'model');
    const queued = await s.alice.raw('POST', `${BASE}/${chat.id}/messages`, {
      body: { content: [{ type: 'text', text: 'queued one' }] },
    });
    expect(queued.body).toMatchObject({ queued: true });

    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const snap = await sock.snapshot();
    const page = (await s.alice.raw('GET', `${BASE}/${chat.id}/messages`)).body as {
      messages: Json[];
      queued_messages: Json[];
    };
    expect(snap).toEqual([
      { type: 'status', chat_id: chat.id, status: { status: 'running' } },
      ...[...page.messages].reverse().map((m) => ({ type: 'message', chat_id: chat.id, message: m })),
      { type: 'queue_update', chat_id: chat.id, queued_messages: page.queued_messages },
    ]);
    expect(page.messages.map((m) => m.role)).toEqual(['assistant', 'user']);
    expect((page.messages[0] as Json).id).toBe(assistant);
    expect(page.queued_messages).toHaveLength(1);
    for (const f of sock.frames) {
      expect(f.endsWith('\n')).toBe(true);
      expect(Array.isArray(JSON.parse(f))).toBe(true);
    }
    await sock.close();
  });

  it('skips messages up to after_id', async () => {
    const chat = await newChat();
    const first = await insertMessage(chat.id, 'assistant', 'one');
    const second = await insertMessage(chat.id, 'assistant', 'two');
    const sock = await openSocket(streamPath(chat.id), as(s.alice), { query: { after_id: String(first) } });
    expect((await sock.snapshot()).map(tag)).toEqual(['status:pending', `message:${second}`, 'queue:0']);
    await sock.close();
    const none = await openSocket(streamPath(chat.id), as(s.alice), { query: { after_id: String(second) } });
    expect((await none.snapshot()).map(tag)).toEqual(['status:pending', 'queue:0']);
    await none.close();
  });

  it('puts at most 256 events in a frame', async () => {
    const chat = await newChat();
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, content_version)
       SELECT $1, 'assistant', '[{"type":"text","text":"x"}]', 1 FROM generate_series(1, 300)`,
      [chat.id],
    );
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const snap = await sock.snapshot();
    expect(snap).toHaveLength(1 + 301 + 1);
    expect(sock.frames.map((f) => (JSON.parse(f) as unknown[]).length)).toEqual([256, 47]);
    const ids = snap.filter((e) => e.type === 'message').map((e) => (e.message as Json).id as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    await sock.close();
  });
  it('sends a snapshot larger than the backpressure limit whole, then live events', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', WORKER);
    await s.db.query(
      `INSERT INTO chat_messages (chat_id, role, content, content_version)
       SELECT $1, 'assistant', jsonb_build_array(jsonb_build_object('type', 'text', 'text', repeat('x', 20000))), 1
         FROM generate_series(1, 300)`,
      [chat.id],
    );
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const snap = await sock.snapshot();
    expect(sock.frames.reduce((n, f) => n + f.length, 0)).toBeGreaterThan(5 * 1024 * 1024);
    expect(sock.frames).toHaveLength(2);
    expect(snap.filter((e) => e.type === 'message')).toHaveLength(301);
    publish(chat.id, [part(chat.id, 1)]);
    await sock.waitFor((ev) => ev.some((e) => tag(e) === 'part:1:p1'), 'a live part');
    await sock.close();
  });
});

describe('GET /chats/{chat}/stream: live events', () => {
  it('delivers message ids once and parts once per seq, with retry and a new turn resetting the seq window', async () => {
    const chat = await newChat();
    await setState(chat.id, 'running', WORKER);
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const snap = await sock.snapshot();
    const c = chat.id;
    publish(c, [part(c, 1), part(c, 2)]);
    publish(c, [part(c, 2), part(c, 3)]); // 2 is a duplicate
    publish(c, [part(c, 1)]); // stale
    publish(c, [retry(c)]);
    publish(c, [part(c, 1, 'again'), part(c, 2, 'again')]);
    publish(c, [message(c, 9001), message(c, 9001)]);
    publish(c, [message(c, 9001)]);
    publish(c, [status(c, 'waiting')]);
    publish(c, [part(c, 3, 'leftover')]); // after the turn ended: dropped
    publish(c, [status(c, 'running'), part(c, 1, 'turn2')]);
    publish(c, [{ type: 'queue_update', chat_id: c, queued_messages: [] }]);
    const all = await sock.waitFor((ev) => ev.filter((e) => e.type === 'queue_update').length === 2, 'live');
    expect(all.slice(snap.length).map(tag)).toEqual([
      'part:1:p1',
      'part:2:p2',
      'part:3:p3',
      'retry',
      'part:1:again',
      'part:2:again',
      'message:9001',
      'status:waiting',
      'status:running',
      'part:1:turn2',
      'queue:0',
    ]);
    // One frame per published message that still had something to send.
    expect(sock.frames.slice(1).map((f) => (JSON.parse(f) as Event[]).map(tag))).toEqual([
      ['part:1:p1', 'part:2:p2'],
      ['part:3:p3'],
      ['retry'],
      ['part:1:again', 'part:2:again'],
      ['message:9001'],
      ['status:waiting'],
      ['status:running', 'part:1:turn2'],
      ['queue:0'],
    ]);
    await sock.close();
  });

  it('sends chat-api events (a sent message, the new status) once, after the snapshot', async () => {
    const chat = await newChat();
    await setState(chat.id, 'waiting');
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const snap = await sock.snapshot();
    const sent = await s.alice.raw('POST', `${BASE}/${chat.id}/messages`, {
      body: { content: [{ type: 'text', text: 'next question' }] },
    });
    const id = ((sent.body as Json).message as Json).id as number;
    const all = await sock.waitFor((ev) => ev.some((e) => tag(e) === 'status:pending'), 'status pending');
    await sleep(100);
    expect(
      all
        .slice(snap.length)
        .filter((e) => e.type === 'message')
        .map(tag),
    ).toEqual([`message:${id}`]);
    await sock.close();
  });

  it('drops the NATS subscription when the socket closes', async () => {
    const chat = await newChat();
    const hub = h.app.app.get(ChatStreamHub) as unknown as { chats: Map<string, unknown> };
    const a = await openSocket(streamPath(chat.id), as(s.alice));
    const b = await openSocket(streamPath(chat.id), as(s.alice));
    await a.snapshot();
    await b.snapshot();
    expect(hub.chats.has(chat.id)).toBe(true);
    await a.close();
    publish(chat.id, [status(chat.id, 'running')]);
    await b.waitFor((ev) => ev.some((e) => tag(e) === 'status:running'), 'live status');
    await b.close();
    await until(() => !hub.chats.has(chat.id), 'the subscription to go');
  });
});

describe("GET /chats/{chat}/stream: the worker's buffer", () => {
  /** Answers the chat's buffer requests as a worker would; `before` runs before each answer. */
  function serveBuffer(chatId: string, worker: string, events: Json[], before?: () => void) {
    const sub = s.nc.subscribe(`${h.prefix}.chat.${chatId}.buffer`, {
      callback: (_err, msg) => {
        before?.();
        msg.respond(JSON.stringify({ v: 1, worker_id: worker, events }));
      },
    });
    return { flushed: s.nc.flush(), stop: () => sub.unsubscribe() };
  }

  it('merges the in-progress parts into the snapshot, then skips live parts it already sent', async () => {
    const chat = await newChat();
    const c = chat.id;
    await setState(c, 'running', WORKER);
    const user = await newestMessageId(c);
    // While answering, the worker publishes parts 3 and 4: 3 is in the buffer, 4 is not.
    const buffer = serveBuffer(c, WORKER, [part(c, 1), part(c, 2), part(c, 3)], () =>
      publish(c, [part(c, 3), part(c, 4)]),
    );
    await buffer.flushed;
    const sock = await openSocket(streamPath(c), as(s.alice));
    const snap = await sock.snapshot();
    expect(snap.map(tag)).toEqual([
      'status:running',
      `message:${user}`,
      'part:1:p1',
      'part:2:p2',
      'part:3:p3',
      'part:4:p4',
      'queue:0',
    ]);
    publish(c, [part(c, 4), part(c, 5)]);
    publish(c, [part(c, 5), part(c, 6)]);
    const all = await sock.waitFor((ev) => ev.some((e) => tag(e) === 'part:6:p6'), 'part 6');
    expect(all.slice(snap.length).map(tag)).toEqual(['part:5:p5', 'part:6:p6']);
    buffer.stop();
    await sock.close();
  });

  it('ignores a buffer from a worker that does not own the chat, and a buffer of a step already persisted', async () => {
    const chat = await newChat();
    const c = chat.id;
    await setState(c, 'running', WORKER);
    const stale = serveBuffer(c, OTHER_WORKER, [part(c, 1)]);
    await stale.flushed;
    const a = await openSocket(streamPath(c), as(s.alice));
    expect((await a.snapshot()).filter((e) => e.type === 'message_part')).toEqual([]);
    await a.close();
    stale.stop();

    // The worker persisted the step (its message event went out) but still holds the parts.
    const persisted = await insertMessage(c, 'assistant', 'p1p2');
    const done = serveBuffer(c, WORKER, [part(c, 1), part(c, 2)], () => publish(c, [message(c, persisted)]));
    await done.flushed;
    const b = await openSocket(streamPath(c), as(s.alice));
    const snap = await b.snapshot();
    expect(snap.filter((e) => e.type === 'message_part')).toEqual([]);
    expect(snap.filter((e) => e.type === 'message').map(tag)).toContain(`message:${persisted}`);
    await sleep(100);
    expect(b.events.filter((e) => tag(e) === `message:${persisted}`)).toHaveLength(1);
    done.stop();
    await b.close();
  });

  it('sends no parts when the chat is not running', async () => {
    const chat = await newChat();
    const c = chat.id;
    await setState(c, 'waiting', WORKER);
    const buffer = serveBuffer(c, WORKER, [part(c, 1)], () => publish(c, [part(c, 2)]));
    await buffer.flushed;
    const sock = await openSocket(streamPath(c), as(s.alice));
    const snap = await sock.snapshot();
    expect(snap.filter((e) => e.type === 'message_part')).toEqual([]);
    buffer.stop();
    await sock.close();
  });
});

describe('GET /chats/{chat}/stream on two replicas', () => {
  it('streams the same events, once each, from either instance', async () => {
    const chat = await newChat();
    const c = chat.id;
    await setState(c, 'running', WORKER);
    const one = await openSocket(streamPath(c), as(s.alice));
    const two = await openSocket(streamPath(c), as(s.alice), { base: second.url });
    const snapOne = await one.snapshot();
    const snapTwo = await two.snapshot();
    expect(snapTwo).toEqual(snapOne);
    publish(c, [part(c, 1), part(c, 2)]);
    publish(c, [part(c, 2), part(c, 3)]);
    const parts = (ev: Event[]) => ev.some((e) => tag(e) === 'part:3:p3');
    await one.waitFor(parts, 'parts on one');
    await two.waitFor(parts, 'parts on two');
    // A chat-api replica's own events: interrupt through the second instance.
    const viaSecond = new AgentmeshClient(second.url, s.alice.sessionToken);
    expect((await viaSecond.raw('POST', `${BASE}/${c}/interrupt`)).status).toBe(200);
    const stopped = (ev: Event[]) => ev.some((e) => tag(e) === 'status:waiting');
    await one.waitFor(stopped, 'status on one');
    await two.waitFor(stopped, 'status on two');
    const persisted = await insertMessage(c, 'assistant', 'p1p2p3');
    publish(c, [message(c, persisted)]);
    publish(c, [message(c, persisted)]);
    const done = (ev: Event[]) => ev.some((e) => tag(e) === `message:${persisted}`);
    await one.waitFor(done, 'message on one');
    await two.waitFor(done, 'message on two');
    await sleep(100);
    const live = [one.events.slice(snapOne.length).map(tag), two.events.slice(snapTwo.length).map(tag)];
    for (const tags of live)
      expect(tags).toEqual(['part:1:p1', 'part:2:p2', 'part:3:p3', 'status:waiting', `message:${persisted}`]);
    await one.close();
    await two.close();
  });
});

describe('GET /chats/{chat}/stream: the read cursor', () => {
  const hasUnread = async (chatId: string) =>
    ((await s.alice.raw('GET', `${BASE}/${chatId}`)).body as Json).has_unread;

  it('marks the chat read once the snapshot is sent, and on disconnect up to the last message sent', async () => {
    const chat = await newChat();
    await insertMessage(chat.id, 'assistant', 'unread answer');
    expect(await hasUnread(chat.id)).toBe(true);
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    await sock.snapshot();
    await until(
      async () => (await lastRead(chat.id)) === (await newestMessageId(chat.id)),
      'read on connect',
    );
    expect(await hasUnread(chat.id)).toBe(false);
    // A message delivered live is read when the socket closes.
    const later = await insertMessage(chat.id, 'assistant', 'arrived while connected');
    publish(chat.id, [message(chat.id, later)]);
    await sock.waitFor((ev) => ev.some((e) => tag(e) === `message:${later}`), 'the live message');
    await sock.close();
    await until(async () => (await lastRead(chat.id)) === later, 'read on disconnect');
    expect(await hasUnread(chat.id)).toBe(false);
  });

  it('does not mark read a message the socket never sent', async () => {
    const chat = await newChat();
    const seen = await insertMessage(chat.id, 'assistant', 'in the snapshot');
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    await sock.snapshot();
    await until(async () => (await lastRead(chat.id)) === seen, 'read on connect');
    // Committed, but its event never reached this socket.
    await insertMessage(chat.id, 'assistant', 'never delivered');
    await sock.close();
    await sleep(200);
    expect(await lastRead(chat.id)).toBe(seen);
    expect(await hasUnread(chat.id)).toBe(true);
  });

  it('does not mark read when the socket closes before its snapshot was sent', async () => {
    const chat = await newChat();
    await insertMessage(chat.id, 'assistant', 'unread answer');
    // Play a worker that holds the buffer request: the socket waits for it before its snapshot.
    let request: Msg | undefined;
    const sub = s.nc.subscribe(`${h.prefix}.chat.${chat.id}.buffer`, {
      callback: (_e, msg) => void (request = msg),
    });
    await s.nc.flush();
    const sock = await openSocket(streamPath(chat.id), as(s.alice));
    const held = await until(() => request, 'the buffer request');
    await sock.close();
    await sleep(100); // the server has seen the close (and run its close handlers)
    held.respond(JSON.stringify({ v: 1, worker_id: WORKER, events: [] }));
    await sleep(200);
    sub.unsubscribe();
    expect(sock.events).toEqual([]);
    expect(await lastRead(chat.id)).toBeNull();
    expect(await hasUnread(chat.id)).toBe(true);
  });

  it("does not move the owner's cursor when someone else reads the chat", async () => {
    const chat = await newChat();
    await insertMessage(chat.id, 'assistant', 'for alice');
    const res = await s.owner.raw('GET', `${BASE}/${chat.id}`);
    expect(res.status).toBe(200); // the site owner reads every chat
    const sock = await openSocket(streamPath(chat.id), as(s.owner));
    await sock.snapshot();
    await sock.close();
    await sleep(100);
    expect(await lastRead(chat.id)).toBeNull();
  });
});

describe('GET /chats/watch', () => {
  const watchPath = `${BASE}/watch`;

  it("sends the caller's own chats' lifecycle events, one {kind, chat} per frame", async () => {
    const alice = await openSocket(watchPath, as(s.alice));
    const bob = await openSocket(watchPath, as(s.bob), { base: second.url });
    await sleep(50);
    const chat = await newChat(s.alice, 'watch me');
    const created = await alice.waitFor((ev) => ev.some((e) => (e.chat as Json)?.id === chat.id), 'created');
    expect(created.find((e) => (e.chat as Json).id === chat.id)).toEqual({
      kind: 'created',
      chat: expect.objectContaining({
        id: chat.id,
        owner_id: s.aliceId,
        title: 'watch me',
        status: 'pending',
      }),
    });
    expect(alice.frames.every((f) => f.endsWith('\n') && !Array.isArray(JSON.parse(f)))).toBe(true);

    await setState(chat.id, 'running', WORKER);
    expect((await s.alice.raw('POST', `${BASE}/${chat.id}/interrupt`)).status).toBe(200);
    await alice.waitFor(
      (ev) => ev.some((e) => e.kind === 'status_change' && (e.chat as Json).id === chat.id),
      'status_change',
    );

    const bobs = await newChat(s.bob, 'bob only');
    await bob.waitFor((ev) => ev.some((e) => (e.chat as Json)?.id === bobs.id), 'bob created');
    await sleep(200);
    expect(bob.events.every((e) => (e.chat as Json).owner_id === s.bobId)).toBe(true);
    expect(alice.events.every((e) => (e.chat as Json).owner_id === s.aliceId)).toBe(true);
    expect(alice.events.map((e) => `${e.kind}:${(e.chat as Json).id}`)).toEqual([
      `created:${chat.id}`,
      `status_change:${chat.id}`,
    ]);
    await alice.close();
    await bob.close();
  });

  it('delivers an event published twice with the same Nats-Msg-Id once', async () => {
    const sock = await openSocket(watchPath, as(s.alice));
    await sleep(50);
    const chat = await newChat(s.alice);
    await sock.waitFor((ev) => ev.length === 1, 'created');
    const hdrs = natsHeaders();
    hdrs.set('Nats-Msg-Id', `test-${chat.id}`);
    const payload = JSON.stringify({ v: 1, kind: 'title_change', chat: { ...chat, title: 'renamed' } });
    const subject = `${h.prefix}.chat.events.${s.aliceId}.${chat.id}`;
    s.nc.publish(subject, payload, { headers: hdrs });
    s.nc.publish(subject, payload, { headers: hdrs });
    await sock.waitFor((ev) => ev.length === 2, 'title_change');
    await sleep(150);
    expect(sock.events.map((e) => e.kind)).toEqual(['created', 'title_change']);
    expect(sock.events[1]).toEqual({ kind: 'title_change', chat: { ...chat, title: 'renamed' } });
    await sock.close();
  });

  it('sends only the chats the caller may read now (roles per organization, token scopes)', async () => {
    const sock = await openSocket(watchPath, as(s.alice));
    await sleep(50);
    const chat = await newChat(s.alice);
    await sock.waitFor((ev) => ev.length === 1, 'created');
    // An event about alice's chat in an organization where she lacks agents-access, then one
    // about her readable chat: one subscription keeps their order, so once the second arrived
    // the first was dropped, not late.
    const elsewhere = { ...chat, id: randomUUID(), organization_id: randomUUID(), title: 'elsewhere' };
    const publishTitle = (c: Json) =>
      s.nc.publish(
        `${h.prefix}.chat.events.${s.aliceId}.${c.id}`,
        JSON.stringify({ v: 1, kind: 'title_change', chat: c }),
      );
    publishTitle(elsewhere);
    publishTitle({ ...chat, title: 'readable' });
    await sock.waitFor((ev) => ev.length === 2, 'the readable title_change');
    expect(sock.events.map((e) => (e.chat as Json).title)).toEqual([chat.title, 'readable']);
    await sock.close();
  });

  it('is 401 without a credential', async () => {
    expect((await refused(watchPath, { via: 'none' })).status).toBe(401);
    const sock = await openSocket(watchPath, { via: 'query', token: s.bob.sessionToken! });
    await sock.close();
  });
});

describe('shutdown', () => {
  it("closes a replica's sockets with 1001 (going away) and still marks the chat read", async () => {
    const chat = await newChat();
    const sock = await openSocket(streamPath(chat.id), as(s.alice), { base: second.url });
    const watch = await openSocket(`${BASE}/watch`, as(s.alice), { base: second.url });
    await sock.snapshot();
    const later = await insertMessage(chat.id, 'assistant', 'just before shutdown');
    publish(chat.id, [message(chat.id, later)]);
    await sock.waitFor((ev) => ev.some((e) => tag(e) === `message:${later}`), 'the live message');
    await second.close();
    expect((await sock.closed).code).toBe(1001);
    expect((await watch.closed).code).toBe(1001);
    expect(await lastRead(chat.id)).toBe(later);
  });
});
