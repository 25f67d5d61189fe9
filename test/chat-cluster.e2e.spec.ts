// A small cluster of real processes: two chat-api instances and two chatd-worker instances
// (each worker runs at most one chat at a time, so two concurrent chats need both) sharing
// one database and NATS prefix, in front of a fake OpenAI and a fake Anthropic server
// configured over the admin API. Covers what apps/chat-api/test/chat-flow.e2e.spec.ts does
// not: stream clients on different chat-api instances see the same streamed answer; usage,
// cache tokens and cost are stored; the automatic title is written and its title_change
// reaches a watcher on the other instance; an edit soft-deletes and re-answers; retryable
// errors are retried with a `retry` event and non-retryable ones end the chat classified.
// Each provider's base URL is a small router in front of the fakes that sends title calls
// (cheap models) to a third fake, so title and turn responses never take each other's place.
import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { Chat, ChatMessage, ChatStreamEvent, ChatWatchEvent } from '@agentmesh/contracts';
import { AgentmeshClient } from '@agentmesh/contracts';
import {
  AppProcess,
  appTestEnv,
  buildDist,
  deleteStreamsForPrefix,
  FakeLlmServer,
  freePort,
  randomPrefix,
  startProcess,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';

jest.setTimeout(120_000);

const BASE = '/api/experimental/chats';
const OPENAI_MODEL = 'gpt-4.1';
const ANTHROPIC_MODEL = 'claude-sonnet-4-5';
/** The cheap title models of apps' title generation, per provider type. */
const TITLE_MODELS: Record<string, string> = { 'claude-haiku-4-5': 'anthropic', 'gpt-4o-mini': 'openai' };
/** What the title fake answers when a test scripted nothing else. */
const DEFAULT_TITLE = 'Some conversation';

/**
 * A provider endpoint in front of fake servers: each request goes to `route(model)` by the
 * model named in its JSON body, so title calls (cheap models) never take a response scripted
 * for a chat turn, whichever provider the title generator tries first. `hold()` keeps turn
 * requests (not title ones) waiting until released, so a test can connect its sockets
 * before a turn's first event, however slow the machine.
 */
class ModelRouter {
  private readonly server: Server;
  private held?: Promise<void>;

  private constructor(private readonly route: (model: string) => FakeLlmServer) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(route: (model: string) => FakeLlmServer): Promise<ModelRouter> {
    const router = new ModelRouter(route);
    await new Promise<void>((resolve) => router.server.listen(0, '127.0.0.1', resolve));
    return router;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Holds turn requests from now on; the returned function lets them (and later ones) through. */
  hold(): () => void {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      release();
    };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let model = '';
      try {
        model = String((JSON.parse(body.toString('utf8')) as { model?: unknown }).model ?? '');
      } catch {
        // Not JSON: the default target answers it.
      }
      const fake = this.route(model);
      const gate = TITLE_MODELS[model] ? undefined : this.held;
      void (gate ?? Promise.resolve()).then(() => {
        if (res.destroyed) return;
        const target = new URL(req.url ?? '/', fake.url);
        const upstream = request(
          target,
          { method: req.method, headers: { ...req.headers, host: target.host } },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        // A caller that hangs up (an abort) hangs up on the fake too, ending its stalls.
        res.on('close', () => upstream.destroy());
        upstream.end(body);
      });
    });
  }
}

/** A WebSocket recording every event it receives (stream frames are arrays, watch frames objects). */
class Socket<E> {
  readonly events: E[] = [];
  readonly closeCodes: number[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as E | E[];
      this.events.push(...(Array.isArray(parsed) ? parsed : [parsed]));
    });
    ws.on('close', (code) => this.closeCodes.push(code));
  }

  static async open<E>(baseUrl: string, path: string, token: string): Promise<Socket<E>> {
    const ws = new WebSocket(new URL(path, baseUrl.replace(/^http/, 'ws')).toString(), {
      headers: { 'Coder-Session-Token': token },
    });
    const socket = new Socket<E>(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return socket;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((r) => this.ws.once('close', r));
    this.ws.close();
    await closed;
  }
}

type StreamSocket = Socket<ChatStreamEvent>;

const textOf = (m: Pick<ChatMessage, 'content'>) =>
  (m.content ?? [])
    .filter((p) => p.type === 'text')
    .map((p) => p.text ?? '')
    .join('');

/** The streamed assistant text as a client renders it: a `retry` drops the partial output. */
function streamedText(events: ChatStreamEvent[]): string {
  let text = '';
  for (const e of events) {
    if (e.type === 'retry') text = '';
    if (e.type === 'message_part' && e.message_part.part.type === 'text') text += e.message_part.part.text;
  }
  return text;
}

const assistantMessages = (events: ChatStreamEvent[]) =>
  events.flatMap((e) => (e.type === 'message' && e.message.role === 'assistant' ? [e.message] : []));

const ofType = <T extends ChatStreamEvent['type']>(events: ChatStreamEvent[], type: T) =>
  events.filter((e): e is Extract<ChatStreamEvent, { type: T }> => e.type === type);

/** Requests a fake received whose body mentions `text` (the user message of one chat). */
const requestsFor = (llm: FakeLlmServer, text: string) =>
  llm.requests.filter((r) => JSON.stringify(r.body ?? '').includes(text));

/** Sum of a Prometheus metric's samples whose labels include `labels` (e.g. `kind="timeout"`). */
function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('chat cluster: two chat-api instances, two workers, fake OpenAI and Anthropic', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  const procs: AppProcess[] = [];
  const sockets: Socket<unknown>[] = [];
  let openai: FakeLlmServer;
  let anthropic: FakeLlmServer;
  let titles: FakeLlmServer;
  const routers: ModelRouter[] = [];
  /** Base URLs of chat-api #1 and #2. */
  const api: string[] = [];
  const workerHealthPorts: number[] = [];
  /** The owner's clients on chat-api #1 and #2 (same session). */
  let c1: AgentmeshClient;
  let c2: AgentmeshClient;
  let orgId: string;
  let openaiModelId: string;
  let anthropicModelId: string;
  let watch: Socket<ChatWatchEvent>;

  async function startChatApi(): Promise<string> {
    const port = await freePort();
    procs.push(
      startProcess('apps/chat-api/src/main.js', appTestEnv(db.url, prefix, { HTTP_PORT: String(port) })),
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor('chat-api ready', async () => (await fetch(`${url}/readyz`)).ok, 30_000, 200);
    return url;
  }

  async function startWorker(): Promise<number> {
    const port = await freePort();
    procs.push(
      startProcess(
        'apps/chatd-worker/src/main.js',
        appTestEnv(db.url, prefix, {
          HEALTH_PORT: String(port),
          CHATD_MAX_CHATS: '1',
          CHATD_POLL_INTERVAL: '300ms',
          CHATD_HEARTBEAT_INTERVAL: '1s',
          CHATD_AUTO_TITLE: 'true',
          SHUTDOWN_GRACE_PERIOD: '2s',
        }),
      ),
    );
    await waitFor(
      'worker ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      30_000,
      200,
    );
    return port;
  }

  const workerMetrics = () =>
    Promise.all(
      workerHealthPorts.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
    );

  /** Both workers idle (a previous chat's title call included), so the next two chats split. */
  const workersIdle = () =>
    waitFor(
      'both workers idle',
      async () => (await workerMetrics()).every((m) => metricSum(m, 'agentmesh_chatd_running_chats') === 0),
      20_000,
    );

  async function setup(): Promise<void> {
    buildDist();
    openai = await FakeLlmServer.start();
    anthropic = await FakeLlmServer.start();
    titles = await FakeLlmServer.start({
      fallback: { text: DEFAULT_TITLE, usage: { inputTokens: 20, outputTokens: 3 } },
    });
    const route = (fallback: FakeLlmServer) => (model: string) => (TITLE_MODELS[model] ? titles : fallback);
    routers.push(await ModelRouter.start(route(openai)), await ModelRouter.start(route(anthropic)));

    const [api1, api2] = await Promise.all([startChatApi(), startChatApi()]);
    api.push(api1, api2);
    c1 = new AgentmeshClient(api1);
    const first = await c1.createFirstUser({
      email: 'owner@example.com',
      username: 'owner',
      name: 'Olive Owner',
      password: 'correct horse battery',
    });
    orgId = first.organization_id;
    await c1.login({ email: 'owner@example.com', password: 'correct horse battery' });
    c2 = new AgentmeshClient(api2, c1.sessionToken);

    // OpenAI-style base URLs include /v1; Anthropic's is the API root.
    const providers = await Promise.all([
      c1.raw('POST', `${BASE}/providers`, {
        body: { provider: 'openai', api_key: 'sk-openai-e2e', base_url: `${routers[0].url}/v1` },
      }),
      c2.raw('POST', `${BASE}/providers`, {
        body: { provider: 'anthropic', api_key: 'sk-ant-e2e', base_url: routers[1].url },
      }),
    ]);
    expect(providers.map((p) => p.status)).toEqual([201, 201]);
    const openaiModel = await c1.raw('POST', `${BASE}/model-configs`, {
      body: {
        provider: 'openai',
        model: OPENAI_MODEL,
        context_limit: 1_000_000,
        is_default: true,
        model_config: {
          cost: {
            input_price_per_million_tokens: '2.5',
            output_price_per_million_tokens: '10',
            cache_read_price_per_million_tokens: '1.25',
          },
        },
      },
    });
    const anthropicModel = await c2.raw('POST', `${BASE}/model-configs`, {
      body: {
        provider: 'anthropic',
        model: ANTHROPIC_MODEL,
        context_limit: 200_000,
        model_config: {
          cost: {
            input_price_per_million_tokens: '3',
            output_price_per_million_tokens: '15',
            cache_read_price_per_million_tokens: '0.3',
            cache_write_price_per_million_tokens: '3.75',
          },
        },
      },
    });
    expect([openaiModel.status, anthropicModel.status]).toEqual([201, 201]);
    openaiModelId = (openaiModel.body as { id: string }).id;
    anthropicModelId = (anthropicModel.body as { id: string }).id;

    workerHealthPorts.push(...(await Promise.all([startWorker(), startWorker()])));
    // Watches the owner's chats on chat-api #2 for the whole suite.
    watch = await openSocket<ChatWatchEvent>(api2, `${BASE}/watch`);
  }

  beforeAll(setup);

  afterAll(async () => {
    for (const s of sockets) await s.close();
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    const stubborn = setTimeout(() => procs.forEach((p) => p.child.kill('SIGKILL')), 10_000);
    await Promise.all(procs.map((p) => p.exited));
    clearTimeout(stubborn);
    for (const r of routers) await r.close();
    await Promise.all([openai?.close(), anthropic?.close(), titles?.close()]);
    await deleteStreamsForPrefix(prefix);
  });

  async function openSocket<E>(baseUrl: string, path: string): Promise<Socket<E>> {
    const s = await Socket.open<E>(baseUrl, path, c1.sessionToken!);
    sockets.push(s as Socket<unknown>);
    return s;
  }

  /** A stream socket whose snapshot (ending with queue_update) has arrived. */
  async function openStream(baseUrl: string, chatId: string): Promise<StreamSocket> {
    const s = await openSocket<ChatStreamEvent>(baseUrl, `${BASE}/${chatId}/stream`);
    await waitFor(
      'the stream snapshot',
      async () => s.events.some((e) => e.type === 'queue_update'),
      10_000,
      20,
    );
    return s;
  }

  async function createChat(client: AgentmeshClient, text: string, modelConfigId: string): Promise<Chat> {
    const res = await client.raw('POST', BASE, {
      body: { organization_id: orgId, model_config_id: modelConfigId, content: [{ type: 'text', text }] },
    });
    expect(res.status).toBe(201);
    return res.body as Chat;
  }

  const getChat = async (client: AgentmeshClient, id: string) =>
    (await client.raw('GET', `${BASE}/${id}`)).body as Chat;
  const waitStatus = (id: string, status: Chat['status']) =>
    waitFor(`chat ${id} ${status}`, async () => (await getChat(c1, id)).status === status, 30_000, 100);
  /** Visible messages, oldest first, system prompts left out. */
  const visibleMessages = async (client: AgentmeshClient, id: string) =>
    ((await client.raw('GET', `${BASE}/${id}/messages`)).body as { messages: ChatMessage[] }).messages
      .filter((m) => m.role !== 'system')
      .reverse();

  async function costOf(messageId: number): Promise<number> {
    const ds = await db.dataSource();
    const [row] = await ds.query(`SELECT total_cost_micros FROM chat_messages WHERE id = $1`, [messageId]);
    return Number(row.total_cost_micros);
  }

  /** Both sockets saw the whole answer stream and the same final assistant message. */
  async function expectBothStreamed(streams: StreamSocket[], answer: string): Promise<ChatMessage> {
    await waitFor(
      'the final answer on both instances',
      async () => streams.every((s) => assistantMessages(s.events).length > 0),
      30_000,
      20,
    );
    const finals = streams.map((s) => assistantMessages(s.events));
    for (const [i, s] of streams.entries()) {
      expect(streamedText(s.events)).toBe(answer);
      const seqs = ofType(s.events, 'message_part').map((e) => e.message_part.seq);
      // Parts arrive once each and in order (buffer catch-up and live events de-duplicated).
      expect(seqs).toEqual(seqs.map((_, n) => n + 1));
      expect(finals[i]).toHaveLength(1);
      expect(textOf(finals[i][0])).toBe(answer);
      expect(s.open).toBe(true);
    }
    expect(finals[1][0].id).toBe(finals[0][0].id);
    return finals[0][0];
  }

  /** Runs `fn` (creating chats, connecting sockets) while turn requests wait at the fakes' door. */
  async function withTurnsHeld<T>(fn: () => Promise<T>): Promise<T> {
    const releases = routers.map((r) => r.hold());
    try {
      return await fn();
    } finally {
      releases.forEach((release) => release());
    }
  }

  it('an OpenAI chat streams to clients on both chat-api instances; usage and cost are stored; the title reaches a watcher on the other instance', async () => {
    const question = 'How do two replicas share one answer stream?';
    const chunks = ['Both ', 'replicas ', 'subscribe ', 'to the ', 'same ', 'NATS ', 'subject.'];
    const answer = chunks.join('');
    // The turn is held until both sockets are connected; the chunks then trickle in live.
    openai.enqueue({
      text: chunks,
      chunkDelayMs: 40,
      usage: { inputTokens: 1000, cacheReadTokens: 500, outputTokens: 200 },
    });
    // Cleaned as the title generator does: no prefix, quotes, trailing period or whitespace.
    titles.enqueue({
      text: '  Title: "Streaming across replicas."\n',
      usage: { inputTokens: 40, outputTokens: 6 },
    });

    const { chat, streams } = await withTurnsHeld(async () => {
      const created = await createChat(c1, question, openaiModelId);
      return {
        chat: created,
        streams: await Promise.all([openStream(api[0], created.id), openStream(api[1], created.id)]),
      };
    });
    const final = await expectBothStreamed(streams, answer);
    await waitStatus(chat.id, 'waiting');

    // The turn went to the fake OpenAI's Responses API with the configured key and model.
    const turn = requestsFor(openai, question);
    expect(turn).toHaveLength(1);
    expect(turn[0].path).toBe('/v1/responses');
    expect(turn[0].headers.authorization).toBe('Bearer sk-openai-e2e');
    expect((turn[0].body as { model: string }).model).toBe(OPENAI_MODEL);

    // Usage as stored (input is the uncached part; the Responses API counted 1500 with 500 cached).
    const [, stored] = await visibleMessages(c2, chat.id);
    expect(stored.id).toBe(final.id);
    expect(stored.usage).toMatchObject({ input_tokens: 1000, output_tokens: 200, cache_read_tokens: 500 });
    expect(final.usage).toMatchObject({ input_tokens: 1000, output_tokens: 200, cache_read_tokens: 500 });
    // 1000 × $2.5/M + 500 × $1.25/M + 200 × $10/M = 2500 + 625 + 2000 = 5125 µ$.
    expect(await costOf(final.id)).toBe(5125);

    // The title: generated by a cheap model through the title fake, announced on chat-api #2.
    const titleEvent = await waitFor(
      'title_change on chat-api #2',
      async () => watch.events.find((e) => e.kind === 'title_change' && e.chat.id === chat.id),
      20_000,
      50,
    );
    expect(titleEvent.chat.title).toBe('Streaming across replicas');
    expect(chat.title).not.toBe('Streaming across replicas');
    expect((await getChat(c1, chat.id)).title).toBe('Streaming across replicas');
    expect((await getChat(c2, chat.id)).title).toBe('Streaming across replicas');
    const titleCalls = requestsFor(titles, question);
    expect(titleCalls).toHaveLength(1);
    const titleModel = (titleCalls[0].body as { model: string }).model;
    expect(Object.keys(TITLE_MODELS)).toContain(titleModel);
    expect(titleCalls[0].format).toBe(
      TITLE_MODELS[titleModel] === 'anthropic' ? 'anthropic' : 'openai-responses',
    );
    // The watcher on #2 also saw the chat created on #1 and its status changes, in order.
    const kinds = watch.events.filter((e) => e.chat.id === chat.id).map((e) => e.kind);
    expect(kinds[0]).toBe('created');
    expect(kinds).toContain('status_change');
    expect(kinds.at(-1)).toBe('title_change');
  });

  it('an Anthropic chat streams to both instances and stores cache read/write tokens and their cost', async () => {
    const question = 'Which prompt parts does Anthropic cache?';
    const chunks = ['The ', 'system ', 'prompt ', 'and ', 'the ', 'tools.'];
    const answer = chunks.join('');
    anthropic.enqueue({
      text: chunks,
      chunkDelayMs: 40,
      usage: { inputTokens: 400, cacheReadTokens: 3001, cacheWriteTokens: 1000, outputTokens: 150 },
    });

    const { chat, streams } = await withTurnsHeld(async () => {
      const created = await createChat(c2, question, anthropicModelId);
      return {
        chat: created,
        streams: await Promise.all([openStream(api[1], created.id), openStream(api[0], created.id)]),
      };
    });
    const final = await expectBothStreamed(streams, answer);
    await waitStatus(chat.id, 'waiting');

    const turn = requestsFor(anthropic, question);
    expect(turn).toHaveLength(1);
    expect(turn[0].path).toBe('/v1/messages');
    expect(turn[0].headers['x-api-key']).toBe('sk-ant-e2e');
    expect((turn[0].body as { model: string }).model).toBe(ANTHROPIC_MODEL);

    const [, stored] = await visibleMessages(c1, chat.id);
    expect(stored.id).toBe(final.id);
    expect(stored.usage).toMatchObject({
      input_tokens: 400,
      output_tokens: 150,
      cache_read_tokens: 3001,
      cache_creation_tokens: 1000,
    });
    const ds = await db.dataSource();
    const [row] = await ds.query(
      `SELECT input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, total_cost_micros
         FROM chat_messages WHERE id = $1`,
      [final.id],
    );
    expect(row).toEqual({
      input_tokens: '400',
      output_tokens: '150',
      cache_read_tokens: '3001',
      cache_creation_tokens: '1000',
      // 400 × $3/M + 150 × $15/M + 3001 × $0.3/M + 1000 × $3.75/M
      // = 1200 + 2250 + 900.3 + 3750 = 8100.3 µ$, rounded up once: 8101.
      total_cost_micros: '8101',
    });
    // This chat's title came from the title fake too (its default answer), never from the turn queue.
    await waitFor(
      'the default title',
      async () => (await getChat(c2, chat.id)).title === DEFAULT_TITLE,
      20_000,
    );
    expect(anthropic.pending).toBe(0);
  });

  it('an edit soft-deletes the edited message and everything after it, and the chat is answered again', async () => {
    openai.enqueue({ text: 'Paris.' });
    const chat = await createChat(c1, 'What is the capital of France?', openaiModelId);
    await waitStatus(chat.id, 'waiting');
    openai.enqueue({ text: 'Berlin.' });
    const sent = await c2.raw('POST', `${BASE}/${chat.id}/messages`, {
      body: { content: [{ type: 'text', text: 'And of Germany?' }] },
    });
    expect(sent.status).toBe(200);
    await waitStatus(chat.id, 'waiting');
    const before = await visibleMessages(c1, chat.id);
    expect(before.map((m) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:What is the capital of France?',
      'assistant:Paris.',
      'user:And of Germany?',
      'assistant:Berlin.',
    ]);
    const [, , edited, dropped] = before;

    openai.enqueue({ text: ['Ro', 'me.'], chunkDelayMs: 40 });
    const stream = await openStream(api[1], chat.id);
    const res = await c1.raw('PATCH', `${BASE}/${chat.id}/messages/${edited.id}`, {
      body: { content: [{ type: 'text', text: 'And of Italy?' }] },
    });
    expect(res.status).toBe(200);
    const replacement = (res.body as { message: ChatMessage }).message;
    expect(textOf(replacement)).toBe('And of Italy?');
    expect(replacement.id).toBeGreaterThan(dropped.id);

    await waitFor('the new answer', async () => assistantMessages(stream.events).length > 0, 30_000, 20);
    await waitStatus(chat.id, 'waiting');
    const after = await visibleMessages(c2, chat.id);
    expect(after.map((m) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:What is the capital of France?',
      'assistant:Paris.',
      'user:And of Italy?',
      'assistant:Rome.',
    ]);
    expect(after[2].id).toBe(replacement.id);
    // The live stream on chat-api #2 saw the replacement and the new answer.
    const streamed = ofType(stream.events, 'message').map((e) => `${e.message.role}:${textOf(e.message)}`);
    expect(streamed).toEqual(expect.arrayContaining(['user:And of Italy?', 'assistant:Rome.']));
    expect(streamedText(stream.events)).toBe('Rome.');

    const ds = await db.dataSource();
    const deleted = await ds.query(
      `SELECT id, role, content FROM chat_messages WHERE chat_id = $1 AND deleted ORDER BY id`,
      [chat.id],
    );
    expect(deleted.map((r: { id: string }) => Number(r.id))).toEqual([edited.id, dropped.id]);
    expect(
      deleted.map((r: { role: string; content: ChatMessage['content'] }) => `${r.role}:${textOf(r)}`),
    ).toEqual(['user:And of Germany?', 'assistant:Berlin.']);
    // The model was asked again with the edited history: no trace of the deleted turn.
    const last = JSON.stringify(openai.requests.at(-1)!.body);
    expect(last).toContain('And of Italy?');
    expect(last).toContain('Paris.');
    expect(last).not.toContain('Germany');
    expect(last).not.toContain('Berlin');
  });

  it('retryable errors (OpenAI 429, Anthropic 503) are announced with a retry event and the turns complete, on both workers', async () => {
    await workersIdle();
    const metricsBefore = await workerMetrics();
    openai.enqueue(
      {
        error: {
          status: 429,
          message: 'Rate limit reached for gpt-4.1 on requests per min.',
          type: 'requests',
          code: 'rate_limit_exceeded',
        },
      },
      { text: ['Recovered ', 'after a 429.'], usage: { inputTokens: 10, outputTokens: 4 } },
    );
    anthropic.enqueue(
      { error: { status: 503 } },
      { text: ['Recovered ', 'after a 503.'], usage: { inputTokens: 10, outputTokens: 4 } },
    );
    // Each chat is watched from the instance it was not created on, from before its first call.
    const { a, b, sa, sb } = await withTurnsHeld(async () => {
      const [ca, cb] = await Promise.all([
        createChat(c1, 'Retry me on OpenAI', openaiModelId),
        createChat(c2, 'Retry me on Anthropic', anthropicModelId),
      ]);
      const [s1, s2] = await Promise.all([openStream(api[1], ca.id), openStream(api[0], cb.id)]);
      return { a: ca, b: cb, sa: s1, sb: s2 };
    });
    await Promise.all([waitStatus(a.id, 'waiting'), waitStatus(b.id, 'waiting')]);
    await waitFor(
      'both final answers',
      async () => assistantMessages(sa.events).length > 0 && assistantMessages(sb.events).length > 0,
      10_000,
      20,
    );

    const cases = [
      { s: sa, chat: a, llm: openai, text: 'Retry me on OpenAI', answer: 'Recovered after a 429.' },
      { s: sb, chat: b, llm: anthropic, text: 'Retry me on Anthropic', answer: 'Recovered after a 503.' },
    ];
    for (const { s, chat, llm, text, answer } of cases) {
      expect(requestsFor(llm, text)).toHaveLength(2);
      expect(streamedText(s.events)).toBe(answer);
      expect(assistantMessages(s.events).map(textOf)).toEqual([answer]);
      const got = await getChat(c1, chat.id);
      expect(got.last_error).toBeNull();
    }
    const [ra, rb] = [ofType(sa.events, 'retry'), ofType(sb.events, 'retry')];
    expect(ra).toHaveLength(1);
    expect(ra[0].retry).toMatchObject({
      attempt: 1,
      delay_ms: 1000,
      kind: 'rate_limit',
      provider: 'openai',
      status_code: 429,
      error: 'OpenAI rate limit reached.',
    });
    expect(rb).toHaveLength(1);
    expect(rb[0].retry).toMatchObject({
      attempt: 1,
      delay_ms: 1000,
      kind: 'timeout',
      provider: 'anthropic',
      status_code: 503,
      error: 'Anthropic is unavailable or did not respond in time.',
    });
    expect(Date.parse(ra[0].retry.retrying_at)).not.toBeNaN();

    // One chat per worker (capacity 1 each): each retried exactly once.
    const metricsAfter = await workerMetrics();
    const retries = metricsAfter.map(
      (m, i) =>
        metricSum(m, 'agentmesh_chatd_llm_retries_total') -
        metricSum(metricsBefore[i], 'agentmesh_chatd_llm_retries_total'),
    );
    expect(retries).toEqual([1, 1]);
    const kinds = (kind: string) =>
      metricsAfter.reduce(
        (n, m) => n + metricSum(m, 'agentmesh_chatd_llm_retries_total', `kind="${kind}"`),
        0,
      );
    expect([kinds('rate_limit'), kinds('timeout')]).toEqual([1, 1]);
  });

  it('non-retryable errors (Anthropic 401, OpenAI 400 unknown model) end the chat in error with a classified last_error', async () => {
    await workersIdle();
    const metricsBefore = await workerMetrics();
    anthropic.enqueue({ error: { status: 401 } });
    openai.enqueue({
      error: {
        status: 400,
        message: "The model 'gpt-4.1' does not exist or you do not have access to it.",
        type: 'invalid_request_error',
        code: 'model_not_found',
      },
    });
    const { a, b, sa, sb } = await withTurnsHeld(async () => {
      const [ca, cb] = await Promise.all([
        createChat(c2, 'Fail me on Anthropic', anthropicModelId),
        createChat(c1, 'Fail me on OpenAI', openaiModelId),
      ]);
      const [s1, s2] = await Promise.all([openStream(api[0], ca.id), openStream(api[1], cb.id)]);
      return { a: ca, b: cb, sa: s1, sb: s2 };
    });
    await Promise.all([waitStatus(a.id, 'error'), waitStatus(b.id, 'error')]);

    const cases = [
      {
        s: sa,
        chat: a,
        llm: anthropic,
        text: 'Fail me on Anthropic',
        error: 'Anthropic rejected the API key.',
      },
      {
        s: sb,
        chat: b,
        llm: openai,
        text: 'Fail me on OpenAI',
        error: 'OpenAI rejected the model configuration.',
      },
    ];
    for (const { s, chat, llm, text, error } of cases) {
      const got = await getChat(c2, chat.id);
      expect(got).toMatchObject({ status: 'error', last_error: error });
      await waitFor('the error event', async () => ofType(s.events, 'error').length > 0, 10_000, 20);
      expect(ofType(s.events, 'error').map((e) => e.error)).toEqual([
        expect.objectContaining({ message: error, retryable: false }),
      ]);
      expect(ofType(s.events, 'status').at(-1)!.status.status).toBe('error');
      // Not retried: one call, no retry event, no answer.
      expect(ofType(s.events, 'retry')).toHaveLength(0);
      expect(requestsFor(llm, text)).toHaveLength(1);
      expect((await visibleMessages(c1, chat.id)).map((m) => m.role)).toEqual(['user']);
    }
    const metricsAfter = await workerMetrics();
    const errors = metricsAfter.map(
      (m, i) =>
        metricSum(m, 'agentmesh_chatd_turns_total', 'outcome="error"') -
        metricSum(metricsBefore[i], 'agentmesh_chatd_turns_total', 'outcome="error"'),
    );
    expect(errors).toEqual([1, 1]);
    expect(metricsAfter.map((m) => metricSum(m, 'agentmesh_chatd_llm_retries_total'))).toEqual(
      metricsBefore.map((m) => metricSum(m, 'agentmesh_chatd_llm_retries_total')),
    );
  });
});
