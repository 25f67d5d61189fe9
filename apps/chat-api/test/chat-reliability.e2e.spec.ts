// Reliability of the chat stream with real processes: chat-api in-process, one chatd-worker
// process, a private nats-server and a fake OpenAI-compatible server. NATS restarted mid-turn:
// the worker still finishes the turn and its stream clients resynchronize with `after_id`,
// ending with the whole answer exactly once. A client that disconnects and reconnects with
// `after_id` sees every message exactly once and in order.
import WebSocket from 'ws';
import { AgentmeshClient } from '@agentmesh/contracts';
import {
  AppProcess,
  appTestEnv,
  buildDist,
  FakeLlmServer,
  freePort,
  PrivateNats,
  startProcess,
  waitFor,
} from '@agentmesh/testing';
import { setupOwner, useChatApi } from './harness';

jest.setTimeout(180_000);

const BASE = '/api/experimental/chats';
type Json = Record<string, unknown>;
type Event = Json & { type: string };

// The private NATS must run before the harness starts chat-api: it is created in a top-level
// beforeAll (which runs before the describe's) and destroyed after the describe's afterAll.
let nats: PrivateNats;
const env: Record<string, string> = {};
beforeAll(async () => {
  nats = await PrivateNats.create();
  env.NATS_URL = nats.url;
});
afterAll(async () => {
  await nats?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A stream client that records every event it receives over all its connections and, while
 * `autoReconnect` is on, reconnects with `after_id` = the last message id it saw whenever the
 * server closes the socket.
 */
class StreamClient {
  readonly events: Event[] = [];
  readonly closes: number[] = [];
  connections = 0;
  autoReconnect = true;
  private ws?: WebSocket;
  private stopped = false;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly chatId: string,
  ) {}

  get messages(): (Json & { id: number; role: string; content: Json[] })[] {
    return this.events
      .filter((e) => e.type === 'message')
      .map((e) => e.message as Json & { id: number; role: string; content: Json[] });
  }

  get lastMessageId(): number {
    return this.messages.reduce((max, m) => Math.max(max, Number(m.id)), 0);
  }

  /** Opens a connection; resolves once the upgrade succeeded. */
  async connect(): Promise<void> {
    const u = new URL(`${BASE}/${this.chatId}/stream`, this.baseUrl.replace(/^http/, 'ws'));
    const after = this.lastMessageId;
    if (after > 0) u.searchParams.set('after_id', String(after));
    const ws = new WebSocket(u.toString(), { headers: { 'Coder-Session-Token': this.token } });
    this.ws = ws;
    ws.on('message', (data) => {
      if (ws !== this.ws) return;
      const parsed = JSON.parse(data.toString()) as Event | Event[];
      if (Array.isArray(parsed)) this.events.push(...parsed);
      else this.events.push(parsed);
    });
    ws.on('close', (code) => {
      if (ws !== this.ws) return;
      this.closes.push(code);
      this.ws = undefined;
      if (this.autoReconnect && !this.stopped) void this.reconnectLoop();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    this.connections++;
  }

  private async reconnectLoop(): Promise<void> {
    while (!this.stopped && !this.ws) {
      await sleep(200);
      try {
        await this.connect();
        return;
      } catch {
        // chat-api may be briefly unable to serve; try again.
      }
    }
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Closes the current connection from the client side (no automatic reconnect). */
  async disconnect(): Promise<void> {
    const ws = this.ws;
    if (!ws) return;
    this.autoReconnect = false;
    const closed = new Promise((r) => ws.once('close', r));
    ws.close();
    await closed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.disconnect();
  }
}

describe('chat stream reliability', () => {
  const h = useChatApi(env);
  let llm: FakeLlmServer;
  let owner: AgentmeshClient;
  let orgId: string;
  let worker: AppProcess;
  const clients: StreamClient[] = [];

  beforeAll(async () => {
    buildDist();
    llm = await FakeLlmServer.start();
    const o = await setupOwner(h);
    owner = o.client;
    orgId = o.orgId;
    const provider = await owner.raw('POST', `${BASE}/providers`, {
      body: { provider: 'openai-compat', api_key: 'sk-e2e', base_url: llm.baseUrl },
    });
    expect(provider.status).toBe(201);
    const model = await owner.raw('POST', `${BASE}/model-configs`, {
      body: { provider: 'openai-compat', model: 'e2e-model', context_limit: 100000 },
    });
    expect(model.status).toBe(201);
    const port = await freePort();
    worker = startProcess(
      'apps/chatd-worker/src/main.js',
      appTestEnv(h.db.url, h.prefix, {
        NATS_URL: nats.url,
        HEALTH_PORT: String(port),
        CHATD_POLL_INTERVAL: '500ms',
        CHATD_HEARTBEAT_INTERVAL: '1s',
        CHATD_AUTO_TITLE: 'false',
      }),
    );
    await waitFor('worker ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 60_000);
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    if (worker) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await llm?.close();
  });

  const chatStatus = async (id: string) =>
    ((await owner.raw('GET', `${BASE}/${id}`)).body as { status: string }).status;
  const waitIdle = (id: string) =>
    waitFor(`chat ${id} waiting`, async () => (await chatStatus(id)) === 'waiting', 60_000, 200);

  /** The ids of the messages a stream client is shown (as the stream's snapshot reads them). */
  async function visibleMessageIds(chatId: string): Promise<number[]> {
    const ds = await h.db.dataSource();
    const rows: { id: string }[] = await ds.query(
      `SELECT id FROM chat_messages
        WHERE chat_id = $1 AND NOT deleted AND visibility IN ('user', 'both') ORDER BY id`,
      [chatId],
    );
    return rows.map((r) => Number(r.id));
  }

  function streamClient(chatId: string): StreamClient {
    const c = new StreamClient(h.url, owner.sessionToken!, chatId);
    clients.push(c);
    return c;
  }

  const textOf = (m: { content: Json[] }) =>
    m.content
      .filter((p) => p.type === 'text')
      .map((p) => p.text as string)
      .join('');

  async function createChat(text: string): Promise<string> {
    const created = await owner.raw('POST', BASE, {
      body: { organization_id: orgId, content: [{ type: 'text', text }] },
    });
    expect(created.status).toBe(201);
    return (created.body as { id: string }).id;
  }

  async function send(chatId: string, text: string): Promise<void> {
    const sent = await owner.raw('POST', `${BASE}/${chatId}/messages`, {
      body: { content: [{ type: 'text', text }] },
    });
    expect(sent.status).toBe(200);
  }

  it('NATS restarted mid-turn: the turn completes and a stream client resyncs to the whole answer once', async () => {
    const chunks = ['Alpha ', 'beta ', 'gamma ', 'delta ', 'epsilon ', 'zeta ', 'eta ', 'theta.'];
    const answer = chunks.join('');
    llm.enqueue({ text: chunks, chunkDelayMs: 600, usage: { inputTokens: 10, outputTokens: 8 } });
    const chatId = await createChat('Tell me the Greek letters');
    const client = streamClient(chatId);
    await client.connect();

    await waitFor(
      'the answer streaming',
      async () => client.events.some((e) => e.type === 'message_part'),
      60_000,
      50,
    );
    const before = client.connections;
    await nats.stop();
    await sleep(1500);
    await nats.start();

    await waitIdle(chatId);
    const persisted = await visibleMessageIds(chatId);
    // Until the client has received every persisted message (resyncing on 1012 as needed).
    await waitFor(
      'the client to see every persisted message',
      async () => {
        const seen = new Set(client.messages.map((m) => Number(m.id)));
        return client.open && persisted.every((id) => seen.has(id));
      },
      60_000,
      100,
    );
    // Live events relayed late (the worker's outbox) must not show up again: wait a little.
    await sleep(2000);

    const received = client.messages.map((m) => Number(m.id));
    expect(received).toEqual(persisted);
    const assistant = client.messages.filter((m) => m.role === 'assistant');
    expect(assistant).toHaveLength(1);
    expect(textOf(assistant[0])).toBe(answer);
    expect(await chatStatus(chatId)).toBe('waiting');
    // The server either closed the socket for resync (1012) or the socket kept going.
    expect(client.closes.every((c) => c === 1012)).toBe(true);
    if (client.closes.length > 0) expect(client.connections).toBeGreaterThan(before);
    expect(llm.requests).toHaveLength(1);
  });

  it('a stream client reconnecting with after_id sees every message exactly once, in order', async () => {
    const requestsBefore = llm.requests.length;
    llm.enqueue({ text: 'answer one' });
    const chatId = await createChat('question one');
    await waitIdle(chatId);
    for (const n of ['two', 'three']) {
      llm.enqueue({ text: `answer ${n}` });
      await send(chatId, `question ${n}`);
      await waitIdle(chatId);
    }

    const client = streamClient(chatId);
    client.autoReconnect = false;
    await client.connect();
    await waitFor(
      'the snapshot',
      async () => client.events.some((e) => e.type === 'queue_update'),
      30_000,
      50,
    );
    expect(client.messages.map((m) => Number(m.id))).toEqual(await visibleMessageIds(chatId));

    // A turn in progress; the client leaves in the middle of it.
    llm.enqueue({ text: ['answer ', 'four ', 'in ', 'pieces'], chunkDelayMs: 400 });
    await send(chatId, 'question four');
    await waitFor(
      'the fourth question and part of its answer',
      async () =>
        client.messages.some((m) => textOf(m) === 'question four') &&
        client.events.some((e) => e.type === 'message_part'),
      30_000,
      50,
    );
    await client.disconnect();
    const firstConnection = client.messages.map((m) => Number(m.id));
    await waitIdle(chatId);
    llm.enqueue({ text: 'answer five' });
    await send(chatId, 'question five');
    await waitIdle(chatId);

    await client.connect();
    const persisted = await visibleMessageIds(chatId);
    await waitFor(
      'every message after the reconnect',
      async () => {
        const seen = new Set(client.messages.map((m) => Number(m.id)));
        return persisted.every((id) => seen.has(id)) && seen.size >= persisted.length;
      },
      30_000,
      50,
    );
    await sleep(500);

    const all = client.messages.map((m) => Number(m.id));
    expect(all).toEqual(persisted);
    expect(all.length).toBeGreaterThan(firstConnection.length);
    expect([...all].sort((a, b) => a - b)).toEqual(all);
    expect(new Set(all).size).toBe(all.length);
    expect(client.messages.filter((m) => m.role !== 'system').map((m) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:question one',
      'assistant:answer one',
      'user:question two',
      'assistant:answer two',
      'user:question three',
      'assistant:answer three',
      'user:question four',
      'assistant:answer four in pieces',
      'user:question five',
      'assistant:answer five',
    ]);
    expect(llm.requests.length - requestsBefore).toBe(5);
  });
});
