// Worker publish → WebSocket frame latency: ONE chat-api process (dist/, its own port, a
// scratch database, its own NATS prefix) and this process, which plays the worker and the
// watchers. One chat is set `running` for a fake worker id (whose buffer requests this process
// answers with no events); W sockets (`ws`, one session token) watch its /stream. Closed loop
// like shared/bench-floors nats_fanout.js: publish `{v:1, events:[message_part]}` on
// `{p}.chat.{id}.stream` (part seq = publish number), wait until every socket has the frame,
// sleep 5 ms, publish the next. Send and receive stamps are this process's performance.now().
// Per publish: `all` = until the last of the W sockets has it (nats_fanout's measure), and
// every socket's own latency (`each`). Per-run percentiles, median of runs.
// Usage: RUNS=3 M=300 WARMUP=50 WATCHERS=1,100,1000 node bench/chatd-ws-latency.mjs
import { randomUUID } from 'node:crypto';
import {
  baselineBusy,
  build,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  firstOwner,
  api,
  median,
  NATS_URL,
  pgClient,
  require,
  round,
  sleep,
  startChatApi,
  stats,
  writeResult,
} from './chatd-common.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const M = Number(process.env.M ?? 300);
const WARMUP = Number(process.env.WARMUP ?? 50);
const WATCHERS = (process.env.WATCHERS ?? '1,100,1000').split(',').map(Number);
const TIMEOUT_MS = 2000;
const WORKER = randomUUID();
const BASE = '/api/experimental/chats';

const WebSocket = require('ws');
const { connect } = require('@nats-io/transport-node');

build();
const busyBefore = await baselineBusy();
const db = await createBenchDb('ws');
const prefix = `benchws${process.pid}`;
const c = await pgClient(db.url);
let chatApi;
const sockets = [];
const results = {};
try {
  chatApi = await startChatApi(db.url, prefix);
  const { token, orgId } = await firstOwner(chatApi.base);
  await c.query(`INSERT INTO chat_providers (provider, display_name) VALUES ('openai', 'OpenAI')`);
  await c.query(
    `INSERT INTO chat_model_configs (provider, model, display_name, context_limit, is_default, enabled, deleted)
     VALUES ('openai', 'gpt-bench', 'gpt-bench', 128000, true, true, false)`,
  );
  const created = await api(
    chatApi.base,
    'POST',
    BASE,
    { organization_id: orgId, content: [{ type: 'text', text: 'bench' }] },
    token,
  );
  if (created.status !== 201) throw new Error(`create chat: ${JSON.stringify(created)}`);
  const chatId = created.body.id;
  // Play the worker: the chat runs on WORKER, whose (empty) buffer this process serves.
  await c.query(`UPDATE chats SET status = 'running', worker_id = $2, heartbeat_at = now() WHERE id = $1`, [
    chatId,
    WORKER,
  ]);
  const nc = await connect({ servers: [NATS_URL] });
  nc.subscribe(`${prefix}.chat.${chatId}.buffer`, {
    callback: (_e, msg) => msg.respond(JSON.stringify({ v: 1, worker_id: WORKER, events: [] })),
  });
  await nc.flush();

  // Per publish seq: send time, sockets still to receive, and the receive latencies.
  let seq = 0;
  let current = { seq: -1, sentAt: 0, left: 0, each: [], done: () => {} };
  const seqRe = /"seq":(\d+)/g;
  const onFrame = (data) => {
    const now = performance.now();
    const text = data.toString();
    if (!text.includes('message_part')) return;
    for (const m of text.matchAll(seqRe)) {
      if (Number(m[1]) !== current.seq) continue;
      current.each.push(now - current.sentAt);
      if (--current.left === 0) current.done(now - current.sentAt);
    }
  };
  const url = new URL(`${BASE}/${chatId}/stream`, chatApi.base.replace(/^http/, 'ws')).toString();
  const open = () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { 'Coder-Session-Token': token } });
      let snapshot = false;
      ws.on('message', (data) => {
        if (!snapshot) {
          if (data.toString().includes('"queue_update"')) {
            snapshot = true;
            resolve(ws);
          }
          return;
        }
        onFrame(data);
      });
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  const publishOne = () =>
    new Promise((resolve) => {
      seq++;
      const timer = setTimeout(() => resolve({ lost: current.left }), TIMEOUT_MS);
      current = {
        seq,
        sentAt: 0,
        left: sockets.length,
        each: [],
        done: (all) => {
          clearTimeout(timer);
          resolve({ all, each: current.each });
        },
      };
      const payload = JSON.stringify({
        v: 1,
        events: [
          {
            type: 'message_part',
            chat_id: chatId,
            message_part: { role: 'assistant', part: { type: 'text', text: `t${seq}` }, seq },
          },
        ],
      });
      current.sentAt = performance.now();
      nc.publish(`${prefix}.chat.${chatId}.stream`, payload);
    });

  for (const w of WATCHERS) {
    while (sockets.length < w) {
      const batch = Math.min(50, w - sockets.length);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, open))));
    }
    await sleep(500);
    const meter = cpuMeter();
    const runs = [];
    let lost = 0;
    for (let r = 0; r < RUNS + 1; r++) {
      const all = [];
      const each = [];
      for (let i = 0; i < (r === 0 ? WARMUP : M); i++) {
        const res = await publishOne();
        if (res.lost !== undefined) lost++;
        else {
          all.push(res.all);
          for (const x of res.each) each.push(x);
        }
        await sleep(5);
      }
      if (r === 0) continue;
      const sAll = stats(all);
      const sEach = stats(each);
      runs.push({ all: sAll, each: sEach });
      console.error(
        `${w} watchers run ${r}: all p50 ${round(sAll.p50, 3)} p99 ${round(sAll.p99, 3)} max ${round(sAll.max, 3)} ms; each p50 ${round(sEach.p50, 3)} p99 ${round(sEach.p99, 3)} ms`,
      );
    }
    const med = (k, p) => round(median(runs.map((x) => x[k][p])), 3);
    results[w] = {
      watchers: w,
      runs: RUNS,
      publishes_per_run: M,
      all_p50_ms_median: med('all', 'p50'),
      all_p99_ms_median: med('all', 'p99'),
      all_p99_ms_range: [
        round(Math.min(...runs.map((x) => x.all.p99)), 3),
        round(Math.max(...runs.map((x) => x.all.p99)), 3),
      ],
      all_max_ms_worst: round(Math.max(...runs.map((x) => x.all.max)), 3),
      each_p50_ms_median: med('each', 'p50'),
      each_p99_ms_median: med('each', 'p99'),
      publishes_timed_out: lost,
      ...meter(),
    };
  }
  await nc.close();
} finally {
  for (const ws of sockets) ws.terminate();
  await chatApi?.stop();
  await c.end();
  await db.drop();
  await deleteStreams(prefix);
}

await writeResult('chatd-ws-latency', {
  setup: {
    chat_api_processes: 1,
    nats_url: NATS_URL,
    timing: 'performance.now() of this process (publisher and sockets)',
    busy_before_pct: busyBefore,
  },
  results,
});
