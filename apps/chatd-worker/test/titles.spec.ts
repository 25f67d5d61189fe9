// Automatic titles after a chat's first turn: a cheap model of a configured provider is asked
// first (here Anthropic's), its answer cleaned and stored with a title_change event.
import { randomUUID } from 'node:crypto';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { chatdWorkerSchema, loadConfig } from '@agentmesh/config';
import type { ChatLifecycleEvent } from '@agentmesh/contracts';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { CHEAP_TITLE_MODELS, fallbackChatTitle } from '@agentmesh/chats';
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

describe('automatic titles', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  const cat = new SubjectCatalog(prefix);
  let llm: FakeLlmServer;
  let worker: RunningApp;
  let nc: NatsConnection;

  beforeAll(async () => {
    llm = await FakeLlmServer.start();
    nc = await connect({ servers: TEST_NATS_URL });
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
    await deleteStreamsForPrefix(prefix);
  });

  it('titles a chat after its first turn with the cheap model and publishes title_change', async () => {
    const ds = await db.dataSource();
    const ownerId = randomUUID();
    const orgId = randomUUID();
    const modelId = randomUUID();
    await ds.query(`INSERT INTO users (id, email, username) VALUES ($1, 'title@example.com', 'title')`, [
      ownerId,
    ]);
    await ds.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'title', 'Title')`, [
      orgId,
    ]);
    await ds.query(
      `INSERT INTO chat_providers (provider, api_key, base_url) VALUES ('openai-compat', 'k1', $1), ('anthropic', 'k2', $2)`,
      [llm.baseUrl, llm.url],
    );
    await ds.query(
      `INSERT INTO chat_model_configs (id, provider, model, context_limit, is_default) VALUES ($1, 'openai-compat', 'big', 1000, true)`,
      [modelId],
    );
    llm.enqueue(
      { text: 'Paris.', usage: { inputTokens: 3, outputTokens: 1 } },
      { text: '"Capital of France."' },
    );
    const question = 'What is the capital city of France, please tell me';
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

    await waitFor(
      'titled',
      async () =>
        (await ds.query(`SELECT title FROM chats WHERE id = $1`, [chatId]))[0].title === 'Capital of France',
      20_000,
    );
    const titleRequest = llm.requests[1];
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
});
