// A chatd-worker running real turns against fake OpenAI and Anthropic servers: the answer
// streams live with ordered seq numbers, lands as one assistant row with usage, cost and
// runtime, the chat ends waiting with a status_change event; failures classify and retry.
import { randomUUID } from 'node:crypto';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Client } from 'pg';
import { chatdWorkerSchema, loadConfig } from '@agentmesh/config';
import type { ChatLifecycleEvent, ChatStreamEvent, ChatStreamMessage } from '@agentmesh/contracts';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { TurnPersistence } from '@agentmesh/chats';
import { insertChatMessages } from '@agentmesh/entities';
import { RunningApp, startApp, workerOptions } from '@agentmesh/observability';
import {
  appTestEnv,
  deleteStreamsForPrefix,
  FakeLlmServer,
  randomPrefix,
  TEST_NATS_URL,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';
import { ChatdWorkerModule } from '../src/app.module';

describe('chat turns', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  const cat = new SubjectCatalog(prefix);
  let llm: FakeLlmServer;
  let worker: RunningApp;
  let pg: Client;
  let nc: NatsConnection;
  let ownerId: string;
  let orgId: string;
  const models: Record<string, string> = {};

  beforeAll(async () => {
    llm = await FakeLlmServer.start();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    nc = await connect({ servers: TEST_NATS_URL });
    ownerId = randomUUID();
    orgId = randomUUID();
    await pg.query(`INSERT INTO users (id, email, username) VALUES ($1, 'turns@example.com', 'turns')`, [
      ownerId,
    ]);
    await pg.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'turns', 'Turns')`, [
      orgId,
    ]);
    for (const provider of ['openai-compat', 'anthropic']) {
      await pg.query(
        `INSERT INTO chat_providers (provider, display_name, api_key, base_url) VALUES ($1, $1, 'sk-test', $2)`,
        [provider, provider === 'anthropic' ? llm.url : llm.baseUrl],
      );
      models[provider] = randomUUID();
      await pg.query(
        `INSERT INTO chat_model_configs (id, provider, model, context_limit, is_default, options)
         VALUES ($1, $2, 'test-model', 200000, $3, $4)`,
        [
          models[provider],
          provider,
          provider === 'openai-compat',
          {
            cost: {
              input_price_per_million_tokens: '3',
              output_price_per_million_tokens: '15',
              cache_read_price_per_million_tokens: '0.3',
            },
          },
        ],
      );
    }
    const cfg = () =>
      loadConfig(
        chatdWorkerSchema,
        appTestEnv(db.url, prefix, {
          CHATD_POLL_INTERVAL: '200ms',
          CHATD_FIRST_CHUNK_TIMEOUT: '2s',
          CHATD_AUTO_TITLE: 'false',
        }),
      );
    worker = await startApp(
      workerOptions('chatd-worker', chatdWorkerSchema, cfg, (c, shared) =>
        ChatdWorkerModule.forRoot(c, shared),
      ),
    );
  });

  afterAll(async () => {
    await worker?.close();
    await nc?.close();
    await pg?.end();
    await llm?.close();
    await deleteStreamsForPrefix(prefix);
  });

  /** A pending chat with one user message, as chat creation leaves it. */
  async function chatWith(
    text: string,
    provider = 'openai-compat',
  ): Promise<{ id: string; events: ChatStreamEvent[] }> {
    const id = randomUUID();
    const events: ChatStreamEvent[] = [];
    nc.subscribe(cat.subject(Subjects.chatStream, id), {
      callback: (_e, m) => {
        events.push(...m.json<ChatStreamMessage>().events);
      },
    });
    await nc.flush();
    // One transaction, as chat creation does: a worker must never see the chat without its messages.
    await (
      await db.dataSource()
    ).transaction(async (em) => {
      await em.query(
        `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status) VALUES ($1, $2, $3, $4, 'pending')`,
        [id, ownerId, orgId, models[provider]],
      );
      await insertChatMessages(em, id, [
        {
          role: 'system',
          content: [{ type: 'text', text: 'You are a test assistant.' }],
          visibility: 'model',
        },
        { role: 'user', content: [{ type: 'text', text }], createdBy: ownerId },
      ]);
    });
    nc.publish(cat.subject(Subjects.chatdWake), JSON.stringify({ v: 1, chat_id: id }));
    return { id, events };
  }

  const chatRow = async (id: string) =>
    (await pg.query(`SELECT status, last_error, worker_id FROM chats WHERE id = $1`, [id])).rows[0];
  const assistantRows = async (id: string) =>
    (
      await pg.query(`SELECT * FROM chat_messages WHERE chat_id = $1 AND role = 'assistant' ORDER BY id`, [
        id,
      ])
    ).rows;

  it('streams an OpenAI-compatible answer live and persists it with usage, cost and runtime', async () => {
    llm.enqueue({
      text: ['Hel', 'lo ', 'world'],
      usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 500 },
    });
    const { id, events } = await chatWith('say hello');
    await waitFor('the turn finished', async () => (await chatRow(id)).status === 'waiting', 20_000);
    expect(await chatRow(id)).toEqual({ status: 'waiting', last_error: null, worker_id: null });

    const [row] = await assistantRows(id);
    expect(row.content).toEqual([{ type: 'text', text: 'Hello world' }]);
    expect(Number(row.input_tokens)).toBe(1000);
    expect(Number(row.output_tokens)).toBe(200);
    expect(Number(row.cache_read_tokens)).toBe(500);
    // 1000 × $3/M + 200 × $15/M + 500 × $0.3/M = 3000 + 3000 + 150 micros.
    expect(Number(row.total_cost_micros)).toBe(6150);
    expect(Number(row.runtime_ms)).toBeGreaterThanOrEqual(0);
    expect(row.model_config_id).toBe(models['openai-compat']);

    const request = llm.requests.at(-1)!;
    expect(request.headers.authorization).toBe('Bearer sk-test');
    expect(JSON.stringify(request.body)).toContain('You are a test assistant.');

    await waitFor('the status event', async () =>
      events.some((e) => e.type === 'status' && e.status.status === 'waiting'),
    );
    const parts = events.filter(
      (e): e is Extract<ChatStreamEvent, { type: 'message_part' }> => e.type === 'message_part',
    );
    expect(parts.map((p) => p.message_part.part.text).join('')).toBe('Hello world');
    expect(parts.map((p) => p.message_part.seq)).toEqual(parts.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual([
      'status',
      ...parts.map(() => 'message_part'),
      'message',
      'status',
    ]);
  });

  it('runs Anthropic turns too, with cache writes counted', async () => {
    llm.enqueue({
      text: 'Bonjour',
      usage: { inputTokens: 10, outputTokens: 5, cacheWriteTokens: 100, cacheReadTokens: 20 },
    });
    const { id } = await chatWith('say bonjour', 'anthropic');
    await waitFor('finished', async () => (await chatRow(id)).status === 'waiting', 20_000);
    const [row] = await assistantRows(id);
    expect(row.content).toEqual([{ type: 'text', text: 'Bonjour' }]);
    expect(Number(row.cache_creation_tokens)).toBe(100);
    expect(Number(row.cache_read_tokens)).toBe(20);
    expect(llm.requests.at(-1)!.path).toMatch(/\/v1\/messages$/);
  });

  it('retries a retryable failure with a retry event, then completes', async () => {
    llm.enqueue(
      { error: { status: 503, message: 'try later' } },
      { text: 'recovered', usage: { inputTokens: 1, outputTokens: 1 } },
    );
    const { id, events } = await chatWith('flaky');
    await waitFor('finished', async () => (await chatRow(id)).status === 'waiting', 20_000);
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ retry: { attempt: 1, delay_ms: 1000, status_code: 503 } });
    expect((await assistantRows(id))[0].content).toEqual([{ type: 'text', text: 'recovered' }]);
  });

  it('ends in error, with the classified message, on a non-retryable failure', async () => {
    llm.enqueue({ error: { status: 401, message: 'bad key' } });
    const { id, events } = await chatWith('unauthorized');
    await waitFor('failed', async () => (await chatRow(id)).status === 'error', 20_000);
    const row = await chatRow(id);
    expect(row.last_error).toMatch(/openai-compat/i);
    expect(await assistantRows(id)).toEqual([]);
    const error = await waitFor('error event', async () => events.find((e) => e.type === 'error'));
    expect(error).toMatchObject({
      error: {
        message: row.last_error,
        kind: 'auth',
        provider: 'openai-compat',
        status_code: 401,
        retryable: false,
      },
    });
    expect(JSON.stringify(error)).not.toContain('bad key');
  });

  it('ends a turn whose answer a dead worker already saved, without asking the model again', async () => {
    const before = llm.requests.length;
    const id = randomUUID();
    // What a worker killed between saving the answer and ending the turn leaves behind, once
    // the stale sweep made the chat pending again.
    await (
      await db.dataSource()
    ).transaction(async (em) => {
      await em.query(
        `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status) VALUES ($1, $2, $3, $4, 'pending')`,
        [id, ownerId, orgId, models['openai-compat']],
      );
      await insertChatMessages(em, id, [
        { role: 'user', content: [{ type: 'text', text: 'answered already' }], createdBy: ownerId },
        { role: 'assistant', content: [{ type: 'text', text: 'the saved answer' }] },
      ]);
    });
    nc.publish(cat.subject(Subjects.chatdWake), JSON.stringify({ v: 1, chat_id: id }));
    await waitFor('ended', async () => (await chatRow(id)).status === 'waiting', 20_000);
    expect(await chatRow(id)).toEqual({ status: 'waiting', last_error: null, worker_id: null });
    expect((await assistantRows(id)).map((r) => r.content)).toEqual([
      [{ type: 'text', text: 'the saved answer' }],
    ]);
    expect(llm.requests.length).toBe(before);
  });

  it('a user interrupt wins over a turn end that raced it (error or hand-back): the chat stays waiting', async () => {
    const persistence = worker.app.get(TurnPersistence);
    const owner = randomUUID();
    for (const outcome of [
      { status: 'error' as const, lastError: 'the model failed' },
      { status: 'pending' as const },
    ]) {
      const id = randomUUID();
      // As an interrupt leaves a running chat: waiting, the worker id kept until it winds down.
      await pg.query(
        `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status, worker_id)
         VALUES ($1, $2, $3, $4, 'waiting', $5)`,
        [id, ownerId, orgId, models['openai-compat'], owner],
      );
      const result = await persistence.finishTurn(id, owner, outcome);
      expect(result).toMatchObject({ applied: true, status: 'waiting' });
      expect(await chatRow(id)).toEqual({ status: 'waiting', last_error: null, worker_id: null });
    }
  });

  it("announces the turn's start to /watch as a status_change (running), before its end (waiting)", async () => {
    const seen: ChatLifecycleEvent[] = [];
    const sub = nc.subscribe(`${prefix}.chat.events.${ownerId}.*`, {
      callback: (_e, m) => {
        seen.push(m.json<ChatLifecycleEvent>());
      },
    });
    await nc.flush();
    try {
      llm.enqueue({ text: 'ok', usage: { inputTokens: 1, outputTokens: 1 } });
      const { id } = await chatWith('announce me');
      const statuses = () =>
        seen.filter((e) => e.chat.id === id && e.kind === 'status_change').map((e) => e.chat.status);
      await waitFor('both status changes', async () => (statuses().length >= 2 ? true : undefined), 20_000);
      expect(statuses()).toEqual(['running', 'waiting']);
    } finally {
      sub.unsubscribe();
    }
  });

  it('publishes a status_change lifecycle event through the outbox to CHAT_EVENTS', async () => {
    llm.enqueue({ text: 'ok', usage: { inputTokens: 1, outputTokens: 1 } });
    const { id } = await chatWith('event please');
    await waitFor('finished', async () => (await chatRow(id)).status === 'waiting', 20_000);
    const jsm = await jetstreamManager(nc);
    const msg = await waitFor('the event in the stream', async () =>
      jsm.streams
        .getMessage(cat.streamName('CHAT_EVENTS'), {
          last_by_subj: cat.subject(Subjects.chatEvents, ownerId, id),
        })
        .catch(() => undefined),
    );
    expect(msg!.json<ChatLifecycleEvent>()).toMatchObject({
      v: 1,
      kind: 'status_change',
      chat: { id, status: 'waiting', owner_id: ownerId },
    });
  });
});
