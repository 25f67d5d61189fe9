// Automatic titles after a chat's first turn: a cheap model of a configured provider is asked
// first (here Anthropic's), its answer cleaned and stored with a title_change event. The
// title runs after the turn, outside it: it holds no capacity slot and the heartbeat does not
// count the finished chat as lost.
import { randomUUID } from 'node:crypto';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Counter } from 'prom-client';
import type { DataSource } from 'typeorm';
import { chatdWorkerSchema, loadConfig } from '@agentmesh/config';
import type { ChatLifecycleEvent } from '@agentmesh/contracts';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { CHEAP_TITLE_MODELS, fallbackChatTitle } from '@agentmesh/chats';
import { insertChatMessages } from '@agentmesh/entities';
import { METRIC_PREFIX, Metrics, RunningApp, startApp, workerOptions } from '@agentmesh/observability';
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
import { ChatEngine } from '../src/engine/chat-engine.service';
import { RunningChats } from '../src/engine/running-chats';

describe('automatic titles', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  const cat = new SubjectCatalog(prefix);
  /** The chat's own model (openai-compat). */
  let llm: FakeLlmServer;
  /** The cheap title model (Anthropic). */
  let titleLlm: FakeLlmServer;
  let worker: RunningApp;
  let nc: NatsConnection;
  let ds: DataSource;
  const ownerId = randomUUID();
  const orgId = randomUUID();
  const modelId = randomUUID();

  beforeAll(async () => {
    llm = await FakeLlmServer.start();
    titleLlm = await FakeLlmServer.start();
    nc = await connect({ servers: TEST_NATS_URL });
    ds = await db.dataSource();
    await ds.query(`INSERT INTO users (id, email, username) VALUES ($1, 'title@example.com', 'title')`, [
      ownerId,
    ]);
    await ds.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'title', 'Title')`, [
      orgId,
    ]);
    await ds.query(
      `INSERT INTO chat_providers (provider, api_key, base_url) VALUES ('openai-compat', 'k1', $1), ('anthropic', 'k2', $2)`,
      [llm.baseUrl, titleLlm.url],
    );
    await ds.query(
      `INSERT INTO chat_model_configs (id, provider, model, context_limit, is_default) VALUES ($1, 'openai-compat', 'big', 1000, true)`,
      [modelId],
    );
    const cfg = () =>
      loadConfig(chatdWorkerSchema, appTestEnv(db.url, prefix, { CHATD_POLL_INTERVAL: '200ms' }));
    worker = await startApp(
      workerOptions('chatd-worker', chatdWorkerSchema, cfg, (c, shared) =>
        ChatdWorkerModule.forRoot(c, shared),
      ),
    );
  });
  afterAll(async () => {
    await worker?.close();
    await nc?.close();
    await llm?.close();
    await titleLlm?.close();
    await deleteStreamsForPrefix(prefix);
  });

  async function startChat(question: string): Promise<string> {
    const chatId = randomUUID();
    await ds.transaction(async (em) => {
      await em.query(
        `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status, title) VALUES ($1, $2, $3, $4, 'pending', $5)`,
        [chatId, ownerId, orgId, modelId, fallbackChatTitle(question)],
      );
      await insertChatMessages(em, chatId, [
        { role: 'user', content: [{ type: 'text', text: question }], createdBy: ownerId },
      ]);
    });
    nc.publish(cat.subject(Subjects.chatdWake), JSON.stringify({ v: 1 }));
    return chatId;
  }
  const titleOf = async (chatId: string): Promise<string> =>
    (await ds.query(`SELECT title FROM chats WHERE id = $1`, [chatId]))[0].title;

  it('titles a chat after its first turn with the cheap model and publishes title_change', async () => {
    const titleRequests = titleLlm.requests.length;
    llm.enqueue({ text: 'Paris.', usage: { inputTokens: 3, outputTokens: 1 } });
    titleLlm.enqueue({ text: '"Capital of France."' });
    const chatId = await startChat('What is the capital city of France, please tell me');

    await waitFor('titled', async () => (await titleOf(chatId)) === 'Capital of France', 20_000);
    const titleRequest = titleLlm.requests[titleRequests];
    expect(titleRequest.path).toMatch(/\/v1\/messages$/);
    expect((titleRequest.body as { model: string }).model).toBe(CHEAP_TITLE_MODELS.anthropic);
    const jsm = await jetstreamManager(nc);
    const msg = await waitFor('title_change event', async () => {
      const m = await jsm.streams
        .getMessage(cat.streamName('CHAT_EVENTS'), {
          last_by_subj: cat.subject(Subjects.chatEvents, ownerId, chatId),
        })
        .catch(() => undefined);
      return m && m.json<ChatLifecycleEvent>().kind === 'title_change' ? m : undefined;
    });
    expect(msg.json<ChatLifecycleEvent>().chat.title).toBe('Capital of France');
  });

  it('titles a chat whose user queued a follow-up during the first answer', async () => {
    const requests = llm.requests.length;
    // The first answer is slow enough for the user to queue a follow-up meanwhile; the turn
    // end promotes it (and the chat runs again) before the title is decided.
    llm.enqueue({ text: 'Rome.', delayMs: 800 }, { text: 'About 2.8 million.' });
    titleLlm.enqueue({ text: 'Capital of Italy' });
    const chatId = await startChat('What is the capital city of Italy, please tell me');
    await llm.waitForRequests(requests + 1);
    await ds.query(`INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, $2)`, [
      chatId,
      JSON.stringify([{ type: 'text', text: 'And how many people live there?' }]),
    ]);

    await waitFor('titled', async () => (await titleOf(chatId)) === 'Capital of Italy', 20_000);
    await waitFor('the follow-up answered', async () => {
      const [r] = await ds.query(
        `SELECT count(*)::int AS n FROM chat_messages WHERE chat_id = $1 AND role = 'assistant'`,
        [chatId],
      );
      return r.n === 2;
    });
  });

  it('a title in flight holds no capacity slot and the heartbeat does not count the chat as lost', async () => {
    const engine = worker.app.get(ChatEngine);
    const running = worker.app.get(RunningChats);
    const lost = worker.app
      .get(Metrics)
      .registry.getSingleMetric(`${METRIC_PREFIX}chatd_lost_chats_total`) as Counter | undefined;
    const lostCount = async () => (await lost?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0;
    const titleRequests = titleLlm.requests.length;
    llm.enqueue({ text: 'Berlin.' });
    titleLlm.enqueue({ text: 'Capital of Germany', delayMs: 1500 });
    const chatId = await startChat('What is the capital city of Germany, please tell me');

    await titleLlm.waitForRequests(titleRequests + 1);
    // The turn is over while its title is still being generated.
    expect((await ds.query(`SELECT status, worker_id FROM chats WHERE id = $1`, [chatId]))[0]).toEqual({
      status: 'waiting',
      worker_id: null,
    });
    expect(running.has(chatId)).toBe(false);
    expect(engine.backgroundTasks).toBe(1);
    const before = await lostCount();
    await engine.heartbeat();
    expect(await lostCount()).toBe(before);
    await waitFor('titled', async () => (await titleOf(chatId)) === 'Capital of Germany', 20_000);
  });
});
