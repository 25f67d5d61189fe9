// Reliability of turns across real worker processes: a worker killed with SIGKILL mid-stream
// loses its chat to another worker after the stale threshold, which completes the turn;
// nothing is persisted twice.
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { insertChatMessages } from '@agentmesh/entities';
import {
  AppProcess,
  appTestEnv,
  buildDist,
  deleteStreamsForPrefix,
  FakeLlmServer,
  freePort,
  randomPrefix,
  startProcess,
  TEST_NATS_URL,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';

jest.setTimeout(90_000);

describe('worker crash mid-stream', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  let llm: FakeLlmServer;
  const procs: AppProcess[] = [];

  beforeAll(async () => {
    buildDist();
    llm = await FakeLlmServer.start();
  });
  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await llm.close();
    await deleteStreamsForPrefix(prefix);
  });

  async function startWorker(): Promise<AppProcess> {
    const port = await freePort();
    const proc = startProcess(
      'apps/chatd-worker/src/main.js',
      appTestEnv(db.url, prefix, {
        HEALTH_PORT: String(port),
        CHATD_POLL_INTERVAL: '200ms',
        CHATD_HEARTBEAT_INTERVAL: '300ms',
        CHATD_STALE_THRESHOLD: '2s',
        CHATD_FIRST_CHUNK_TIMEOUT: '5s',
        CHATD_AUTO_TITLE: 'false',
      }),
    );
    procs.push(proc);
    await waitFor('worker ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000);
    return proc;
  }

  it('another worker completes the chat after the first one is killed, persisting one answer', async () => {
    const ds = await db.dataSource();
    const ownerId = randomUUID();
    const orgId = randomUUID();
    const modelId = randomUUID();
    await ds.query(`INSERT INTO users (id, email, username) VALUES ($1, 'crash@example.com', 'crash')`, [
      ownerId,
    ]);
    await ds.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'crash', 'Crash')`, [
      orgId,
    ]);
    await ds.query(
      `INSERT INTO chat_providers (provider, api_key, base_url) VALUES ('openai-compat', 'k', $1)`,
      [llm.baseUrl],
    );
    await ds.query(
      `INSERT INTO chat_model_configs (id, provider, model, context_limit, is_default) VALUES ($1, 'openai-compat', 'm', 1000, true)`,
      [modelId],
    );
    // The first call streams a little and then hangs; the retry on the second worker completes.
    llm.enqueue(
      { text: ['partial ', 'answer ', 'that never ends'], stallAfterEvents: 2 },
      { text: 'complete answer', usage: { inputTokens: 5, outputTokens: 2 } },
    );

    const first = await startWorker();
    const chatId = randomUUID();
    await ds.transaction(async (em) => {
      await em.query(
        `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status) VALUES ($1, $2, $3, $4, 'pending')`,
        [chatId, ownerId, orgId, modelId],
      );
      await insertChatMessages(em, chatId, [
        { role: 'user', content: [{ type: 'text', text: 'hello' }], createdBy: ownerId },
      ]);
    });
    const nc = await connect({ servers: TEST_NATS_URL });
    nc.publish(new SubjectCatalog(prefix).subject(Subjects.chatdWake), JSON.stringify({ v: 1 }));
    await nc.close();
    await waitFor('the first worker is streaming', async () => llm.requests.length === 1, 20_000);
    const owner = (await ds.query(`SELECT worker_id FROM chats WHERE id = $1`, [chatId]))[0].worker_id;
    expect(owner).toBeTruthy();

    first.child.kill('SIGKILL');
    await first.exited;
    await startWorker();

    await waitFor(
      'the second worker finished the turn',
      async () => {
        const [row] = await ds.query(`SELECT status FROM chats WHERE id = $1`, [chatId]);
        return row.status === 'waiting';
      },
      30_000,
    );
    const rows = await ds.query(
      `SELECT role, content FROM chat_messages WHERE chat_id = $1 AND NOT deleted ORDER BY id`,
      [chatId],
    );
    expect(rows.map((r: { role: string }) => r.role)).toEqual(['user', 'assistant']);
    expect(rows[1].content).toEqual([{ type: 'text', text: 'complete answer' }]);
    expect(llm.requests).toHaveLength(2);
  });
});
