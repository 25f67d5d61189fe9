// AI Bridge recording with real processes while a gateway publishes through the typed client
// (batched). Mid-stream, the only recorder replica is killed with SIGKILL right after it
// committed a batch whose acks never reached NATS (its connection runs through a proxy that
// holds them back); then two replicas share the durable consumer for the rest. Every record
// must be stored exactly once: the redelivered batch is recognised by its record ids.
// (The crashing replica runs alone until the kill: with a second one beside it, the server may
// hand the whole middle third to the other replica and nothing would be committed unacked.)
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { AibridgeRecorderClient, SubjectCatalog } from '@agentmesh/bus';
import { AgentmeshClient, type AIBridgeListInterceptionsResponse } from '@agentmesh/contracts';
import {
  AppProcess,
  appTestEnv,
  buildDist,
  deleteStreamsForPrefix,
  freePort,
  randomPrefix,
  startProcess,
  TcpProxy,
  TEST_NATS_URL,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';

jest.setTimeout(120_000);

const db = useTestDatabase();
const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
let nc: NatsConnection;
let pg: Client;
let proxy: TcpProxy;
const procs: AppProcess[] = [];

const recorder = (natsUrl: string) => {
  const p = startProcess(
    'apps/aibridge-recorder/src/main.js',
    appTestEnv(db.url, prefix, {
      NATS_URL: natsUrl,
      AIBRIDGE_RECORDER_BATCH_MESSAGES: '20',
      AIBRIDGE_RECORDER_ACK_WAIT: '2s',
    }),
  );
  procs.push(p);
  return p;
};

beforeAll(async () => {
  buildDist();
  nc = await connect({ servers: TEST_NATS_URL });
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  proxy = await TcpProxy.start();
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await proxy?.close();
  await pg?.end();
  await nc?.close();
  await deleteStreamsForPrefix(prefix);
});

async function counts(): Promise<Record<string, number>> {
  const { rows } = await pg.query(`SELECT
      (SELECT count(*)::int FROM aibridge_interceptions) AS started,
      (SELECT count(*)::int FROM aibridge_interceptions WHERE ended_at IS NOT NULL) AS ended,
      (SELECT count(*)::int FROM aibridge_token_usages) AS tokens,
      (SELECT count(*)::int FROM aibridge_user_prompts) AS prompts,
      (SELECT COALESCE(sum(input_tokens), 0)::int FROM aibridge_token_usages) AS input_tokens`);
  return rows[0];
}

it('stores every record exactly once while a replica is killed between commit and ack and restarted', async () => {
  const crashing = recorder(proxy.url);
  const streamReady = async () => {
    const jsm = await jetstreamManager(nc);
    return (await jsm.consumers
      .info(cat.streamName('AIBRIDGE'), 'aibridge-recorder')
      .catch(() => undefined)) !== undefined
      ? true
      : undefined;
  };
  await waitFor('the recorder consumer', streamReady, 30_000);

  const client = AibridgeRecorderClient.fromConnection(nc, prefix, {
    maxBatchRecords: 50,
    flushIntervalMs: 5,
  });
  const user = randomUUID();
  const N = 1500;
  const publishRange = (from: number, to: number) =>
    Promise.all(
      Array.from({ length: to - from }, (_, k) => {
        const i = from + k;
        const id = randomUUID();
        const at = new Date(Date.UTC(2026, 10, 1, 0, 0, 0, i)).toISOString();
        return Promise.all([
          client.recordInterceptionStarted({
            id,
            initiator_id: user,
            provider: 'openai',
            model: 'gpt-5',
            started_at: at,
            api_key_id: 'k',
            user_agent: 'codex',
            client: 'Codex',
          }),
          client.recordTokenUsage({
            id: randomUUID(),
            interception_id: id,
            provider_response_id: `resp_${i}`,
            input_tokens: 1,
            output_tokens: 2,
            cache_read_input_tokens: 0,
            cache_write_input_tokens: 0,
            created_at: at,
          }),
          client.recordPromptUsage({
            id: randomUUID(),
            interception_id: id,
            provider_response_id: `resp_${i}`,
            prompt: `prompt ${i}`,
            created_at: at,
          }),
          client.recordInterceptionEnded({ id, ended_at: at }),
        ]);
      }),
    );

  const jsm = await jetstreamManager(nc);
  const consumerInfo = () => jsm.consumers.info(cat.streamName('AIBRIDGE'), 'aibridge-recorder');
  await publishRange(0, N / 3);
  // The replica idles with its pull outstanding, so it is sure to be handed messages it can
  // process while everything it sends is held back.
  await waitFor('the first third stored', async () => {
    const i = await consumerInfo();
    return i.num_pending === 0 && i.num_ack_pending === 0 && i.num_waiting >= 1;
  });
  // Hold back everything the first replica sends (acks included), let it commit what it is
  // delivered, and kill it before the acks can go out.
  proxy.stall();
  await publishRange(N / 3, (2 * N) / 3);
  await waitFor('a committed batch whose acks are held back', async () =>
    proxy.stalledText().includes('+ACK'),
  );
  crashing.child.kill('SIGKILL');
  await crashing.exited;
  proxy.cut();
  proxy.release();
  // The rest is shared by two replicas: the killed one restarted, and one more.
  recorder(proxy.url);
  recorder(TEST_NATS_URL);
  await publishRange((2 * N) / 3, N);
  await client.close();

  await waitFor(
    'every record stored',
    async () => {
      const c = await counts();
      return c.started === N && c.ended === N && c.tokens === N && c.prompts === N ? c : undefined;
    },
    60_000,
  );
  const info = await waitFor('the consumer drained', async () => {
    const i = await consumerInfo();
    return i.num_pending === 0 && i.num_ack_pending === 0 ? i : undefined;
  });
  // The killed replica's committed batch was delivered again (more deliveries than messages)
  // and changed nothing.
  const stream = await jsm.streams.info(cat.streamName('AIBRIDGE'));
  expect(info.delivered.consumer_seq).toBeGreaterThan(stream.state.messages);
  expect(await counts()).toEqual({ started: N, ended: N, tokens: N, prompts: N, input_tokens: N });

  // Through the HTTP API: every interception once, each with its one token usage and prompt.
  const port = await freePort();
  procs.push(
    startProcess('apps/chat-api/src/main.js', appTestEnv(db.url, prefix, { HTTP_PORT: String(port) })),
  );
  const api = new AgentmeshClient(`http://127.0.0.1:${port}`);
  await waitFor('chat-api ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000);
  await api.createFirstUser({
    email: 'o@example.com',
    username: 'o',
    name: 'O',
    password: 'correct horse battery',
  });
  await api.login({ email: 'o@example.com', password: 'correct horse battery' });
  const seen = new Map<string, { tokens: number; prompts: number; input: number }>();
  let after = '';
  for (;;) {
    const res = await api.raw(
      'GET',
      `/api/v2/aibridge/interceptions?limit=1000${after ? `&after_id=${after}` : ''}`,
    );
    expect(res.status).toBe(200);
    const page = res.body as AIBridgeListInterceptionsResponse;
    expect(page.count).toBe(N);
    for (const i of page.results) {
      expect(seen.has(i.id)).toBe(false);
      seen.set(i.id, {
        tokens: i.token_usages.length,
        prompts: i.user_prompts.length,
        input: i.token_usages.reduce((a, t) => a + t.input_tokens, 0),
      });
    }
    if (page.results.length < 1000) break;
    after = page.results[page.results.length - 1].id;
  }
  expect(seen.size).toBe(N);
  expect([...seen.values()].every((v) => v.tokens === 1 && v.prompts === 1 && v.input === 1)).toBe(true);
});
