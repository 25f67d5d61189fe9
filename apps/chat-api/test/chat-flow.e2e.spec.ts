// The whole chat flow over HTTP with real processes: chat-api (in-process), two chatd-worker
// processes and a fake OpenAI-compatible server. An admin configures the provider and model
// through the API; a chat is created, answered, persisted with usage and cost; a message
// sent while the chat runs is queued and answered next; an interrupt keeps the partial answer.
import { AgentmeshClient } from '@agentmesh/contracts';
import {
  AppProcess,
  appTestEnv,
  buildDist,
  FakeLlmServer,
  freePort,
  startProcess,
  waitFor,
} from '@agentmesh/testing';
import { setupOwner, useChatApi } from './harness';

jest.setTimeout(120_000);

const BASE = '/api/experimental/chats';
type Json = Record<string, unknown>;

describe('chat flow with workers', () => {
  const h = useChatApi();
  let llm: FakeLlmServer;
  let owner: AgentmeshClient;
  let orgId: string;
  const workers: AppProcess[] = [];

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
      body: {
        provider: 'openai-compat',
        model: 'e2e-model',
        context_limit: 100000,
        model_config: { cost: { input_price_per_million_tokens: '2', output_price_per_million_tokens: '8' } },
      },
    });
    expect(model.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const w = startProcess(
        'apps/chatd-worker/src/main.js',
        appTestEnv(h.db.url, h.prefix, {
          HEALTH_PORT: String(port),
          CHATD_POLL_INTERVAL: '500ms',
          CHATD_HEARTBEAT_INTERVAL: '1s',
          CHATD_AUTO_TITLE: 'false',
        }),
      );
      workers.push(w);
      await waitFor('worker ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000);
    }
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await llm?.close();
  });

  const chat = async (id: string) =>
    (await owner.raw('GET', `${BASE}/${id}`)).body as Json & { status: string };
  const messages = async (id: string) =>
    (
      (await owner.raw('GET', `${BASE}/${id}/messages`)).body as {
        messages: (Json & { role: string; content: Json[]; usage?: Json })[];
      }
    ).messages;
  const waitIdle = (id: string) =>
    waitFor(`chat ${id} waiting`, async () => (await chat(id)).status === 'waiting', 30_000);

  it('answers a new chat and stores usage; the answer shows in the message list', async () => {
    llm.enqueue({ text: ['The answer ', 'is 42.'], usage: { inputTokens: 100, outputTokens: 10 } });
    const created = await owner.raw('POST', BASE, {
      body: { organization_id: orgId, content: [{ type: 'text', text: 'What is the answer?' }] },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    await waitIdle(id);
    const list = await messages(id);
    const answer = list.find((m) => m.role === 'assistant')!;
    expect(answer.content).toEqual([expect.objectContaining({ type: 'text', text: 'The answer is 42.' })]);
    expect(answer.usage).toMatchObject({ input_tokens: 100, output_tokens: 10 });
    const ds = await h.db.dataSource();
    const [row] = await ds.query(
      `SELECT total_cost_micros FROM chat_messages WHERE chat_id = $1 AND role = 'assistant'`,
      [id],
    );
    // 100 × $2/M + 10 × $8/M = 200 + 80 micros.
    expect(Number(row.total_cost_micros)).toBe(280);
    expect(llm.requests.at(-1)!.headers.authorization).toBe('Bearer sk-e2e');
  });

  it('queues a message sent while the chat runs and answers it after the first turn', async () => {
    llm.enqueue(
      { text: 'first answer', delayMs: 1500, usage: { inputTokens: 1, outputTokens: 1 } },
      { text: 'second answer', usage: { inputTokens: 1, outputTokens: 1 } },
    );
    const created = await owner.raw('POST', BASE, {
      body: { organization_id: orgId, content: [{ type: 'text', text: 'one' }] },
    });
    const id = (created.body as { id: string }).id;
    await waitFor('running', async () => (await chat(id)).status === 'running', 20_000);
    const sent = await owner.raw('POST', `${BASE}/${id}/messages`, {
      body: { content: [{ type: 'text', text: 'two' }] },
    });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ queued: true });
    await waitFor(
      'both answers',
      async () => (await messages(id)).filter((m) => m.role === 'assistant').length === 2,
      30_000,
    );
    await waitIdle(id);
    const texts = (await messages(id))
      .reverse()
      .map((m) => `${m.role}:${(m.content[0] as { text?: string }).text}`);
    expect(texts.filter((t) => !t.startsWith('system'))).toEqual([
      'user:one',
      'assistant:first answer',
      'user:two',
      'assistant:second answer',
    ]);
  });

  it('an interrupt stops the turn and keeps the partial answer', async () => {
    llm.enqueue({ text: ['partial ', 'words ', 'never finished'], stallAfterEvents: 3 });
    const created = await owner.raw('POST', BASE, {
      body: { organization_id: orgId, content: [{ type: 'text', text: 'talk' }] },
    });
    const id = (created.body as { id: string }).id;
    await waitFor(
      'streaming',
      async () => llm.requests.length > 0 && (await chat(id)).status === 'running',
      20_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    const res = await owner.raw('POST', `${BASE}/${id}/interrupt`);
    expect(res.status).toBe(200);
    await waitIdle(id);
    await waitFor(
      'the partial answer',
      async () => (await messages(id)).some((m) => m.role === 'assistant'),
      20_000,
    );
    const answer = (await messages(id)).find((m) => m.role === 'assistant')!;
    expect((answer.content[0] as { text: string }).text).toMatch(/^partial/);
  });
});
