// Full trivial turns per second through HTTP → chatd-worker → fake LLM → persistence: one
// chat-api process and two chatd-worker processes (dist/, defaults but CHATD_AUTO_TITLE=false)
// on a scratch database and their own NATS prefix; an OpenAI-compatible fake in this process
// answers every `/chat/completions` at once with a tiny streamed answer ("ok", usage 1/1).
// The owner configures provider and model through the API; each run creates N chats with
// POST /api/experimental/chats (CONCURRENCY requests in flight) and the clock runs from the
// first create to the moment every chat of the run is `waiting` (polled every 20 ms on
// Postgres). Each run checks that every chat has exactly one assistant message.
// Usage: RUNS=3 N=300 WARMUP=20 CONCURRENCY=16 node bench/chatd-turns.mjs
import { createServer } from 'node:http';
import {
  api,
  appEnv,
  baselineBusy,
  build,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  firstOwner,
  freePort,
  median,
  pgClient,
  round,
  startApp,
  startChatApi,
  writeResult,
} from './chatd-common.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const N = Number(process.env.N ?? 300);
const WARMUP = Number(process.env.WARMUP ?? 20);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const WORKERS = Number(process.env.WORKERS ?? 2);
const BASE = '/api/experimental/chats';

/** A minimal OpenAI Chat Completions fake: every request gets "ok" at once. */
function startFakeLlm() {
  let calls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls++;
      const parsed = body ? JSON.parse(body) : {};
      const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
      const base = { id: `chatcmpl-bench${calls}`, created: 1_700_000_000, model: parsed.model ?? 'm' };
      if (parsed.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            ...base,
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage,
          }),
        );
        return;
      }
      const chunk = (delta, finish = null) => ({
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      const events = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'ok' }), chunk({}, 'stop')];
      if (parsed.stream_options?.include_usage)
        events.push({ ...base, object: 'chat.completion.chunk', choices: [], usage });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(`${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
        calls: () => calls,
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

build();
const busyBefore = await baselineBusy();
const db = await createBenchDb('turns');
const prefix = `benchturns${process.pid}`;
const c = await pgClient(db.url);
const llm = await startFakeLlm();
let chatApi;
const workers = [];
const runs = [];
let totalCalls = 0;
try {
  chatApi = await startChatApi(db.url, prefix);
  const { token, orgId } = await firstOwner(chatApi.base);
  const provider = await api(
    chatApi.base,
    'POST',
    `${BASE}/providers`,
    { provider: 'openai-compat', api_key: 'sk-bench', base_url: llm.baseUrl },
    token,
  );
  if (provider.status !== 201) throw new Error(`provider: ${JSON.stringify(provider)}`);
  const model = await api(
    chatApi.base,
    'POST',
    `${BASE}/model-configs`,
    { provider: 'openai-compat', model: 'bench-model', context_limit: 100000 },
    token,
  );
  if (model.status !== 201) throw new Error(`model config: ${JSON.stringify(model)}`);
  for (let i = 0; i < WORKERS; i++) {
    const port = await freePort();
    workers.push(
      await startApp(
        'apps/chatd-worker/src/main.js',
        appEnv(db.url, prefix, { HEALTH_PORT: String(port), CHATD_AUTO_TITLE: 'false' }),
        `http://127.0.0.1:${port}/readyz`,
      ),
    );
  }

  const createChats = async (n) => {
    const ids = [];
    let next = 0;
    const one = async () => {
      while (next < n) {
        const i = next++;
        const res = await api(
          chatApi.base,
          'POST',
          BASE,
          { organization_id: orgId, content: [{ type: 'text', text: `question ${i}` }] },
          token,
        );
        if (res.status !== 201) throw new Error(`create chat: ${JSON.stringify(res)}`);
        ids.push(res.body.id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, one));
    return ids;
  };
  const allWaiting = async (ids) => {
    for (;;) {
      const { rows } = await c.query(
        `SELECT count(*) FILTER (WHERE status = 'waiting')::int AS waiting,
                count(*) FILTER (WHERE status = 'error')::int AS errors
           FROM chats WHERE id = ANY($1)`,
        [ids],
      );
      if (rows[0].errors > 0) throw new Error(`${rows[0].errors} chats in error`);
      if (rows[0].waiting === ids.length) return performance.now();
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  for (let r = 0; r < RUNS + 1; r++) {
    const n = r === 0 ? WARMUP : N;
    const meter = cpuMeter();
    const t0 = performance.now();
    let createdAt = 0;
    const idsPromise = createChats(n).then((ids) => ((createdAt = performance.now()), ids));
    const ids = await idsPromise;
    const t1 = await allWaiting(ids);
    const cpu = meter();
    const { rows } = await c.query(
      `SELECT count(*)::int AS answers, count(DISTINCT chat_id)::int AS chats FROM chat_messages
        WHERE chat_id = ANY($1) AND role = 'assistant'`,
      [ids],
    );
    if (rows[0].answers !== n || rows[0].chats !== n)
      throw new Error(`expected ${n} assistant messages, got ${JSON.stringify(rows[0])}`);
    const { rows: lat } = await c.query(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
         FROM (SELECT extract(epoch FROM (updated_at - created_at)) * 1000 AS ms FROM chats WHERE id = ANY($1)) t`,
      [ids],
    );
    if (r === 0) continue;
    const run = {
      chats: n,
      seconds: round((t1 - t0) / 1000, 3),
      turns_per_s: round(n / ((t1 - t0) / 1000), 1),
      creates_per_s: round(n / ((createdAt - t0) / 1000), 1),
      chat_created_to_waiting_p50_ms: round(Number(lat[0].p50), 1),
      chat_created_to_waiting_p99_ms: round(Number(lat[0].p99), 1),
      ...cpu,
    };
    runs.push(run);
    console.error(`run ${r}: ${JSON.stringify(run)}`);
  }
  totalCalls = llm.calls();
} finally {
  for (const w of workers) await w.stop();
  await chatApi?.stop();
  await llm.close();
  await c.end();
  await db.drop();
  await deleteStreams(prefix);
}

await writeResult('chatd-turns', {
  setup: {
    chat_api_processes: 1,
    worker_processes: WORKERS,
    chats_per_run: N,
    create_concurrency: CONCURRENCY,
    auto_title: false,
    llm_calls: totalCalls,
    busy_before_pct: busyBefore,
  },
  results: {
    turns_per_s_median: median(runs.map((x) => x.turns_per_s)),
    turns_per_s_range: [
      Math.min(...runs.map((x) => x.turns_per_s)),
      Math.max(...runs.map((x) => x.turns_per_s)),
    ],
    creates_per_s_median: median(runs.map((x) => x.creates_per_s)),
    chat_created_to_waiting_p50_ms_median: median(runs.map((x) => x.chat_created_to_waiting_p50_ms)),
    runs,
  },
});
