// AI Bridge ingest, end to end: records published through the typed client from dist/
// (AibridgeRecorderClient.fromConnection, batched and unbatched) until every record is
// committed by 1 or 2 aibridge-recorder processes (dist/) on a scratch database, with its own
// NATS prefix. Beside it, in the same run: the floors `nats_throughput.js` and `pg_insert.js`
// (shared/bench-floors, run just before ours) and the raw JetStream async publish rate of
// 256-byte messages on a stream of our own (the reference line), plus raw publishes of
// messages shaped like the client's (one record with a message id; one 200-record batch).
//
// The mix is what a gateway sends for an interception: 1 interception.started, 2 usage.token,
// 1 usage.prompt, 1 usage.tool and 1 interception.ended (6 records), with realistic field
// sizes (prompts 200–1,000 characters, tool inputs as JSON text, metadata objects; 2 of 3
// starts name the previous tool call as their correlating id). Interceptions overlap: the
// second token, the tool call and the end of interception k are sent LAG interceptions later.
// Records are built before the clock starts; validation, JSON and publishing are inside it.
// The bench keeps at most WINDOW records in flight (published, not yet acked by the stream).
// The clock runs from the first publish to the first poll (every 10 ms) at which the recorder's
// durable consumer has acked every message of the run (the recorder acks after its commit);
// the row counts of every aibridge table are then checked exactly (a shortfall keeps polling).
// Tables are truncated, the stream purged and a CHECKPOINT taken before each run.
// Per run: records/s committed, the client's own publish rate (first publish → last stream
// ack), CPU seconds of the client (this process), each recorder, nats-server and Postgres
// (our database's backends, background processes), recorder transactions and their size (the
// recorders' /metrics), WAL bytes, box busy and steal.
//
// Usage: FLOORS_DIR=/tmp/floors-x node bench/aibridge-ingest.mjs   (→ bench/results/aibridge-ingest.json)
//   RUNS=3  RECORDS=200000 (batched)  RECORDS_UNBATCHED=60000  WARMUP_RECORDS=12000
//   CASES=batched:1,batched:2,unbatched:1,unbatched:2   (mode:replicas)
//   WINDOW=4000 records in flight   LAG=200 interceptions   CLIENT_BATCH=200 client maxBatchRecords
//   FLUSH_MS=10 client flushIntervalMs
//   RECORDER_BATCHED=msgs/waitMs, RECORDER_UNBATCHED=msgs/waitMs  recorder env for the cases
//     (AIBRIDGE_RECORDER_BATCH_MESSAGES / _BATCH_WAIT; default: the app's defaults, 100/20)
//   SPLIT=1   also: the cases (SPLIT_CASES, default CASES) with the recorders stopped (SIGSTOP)
//             while the client publishes, then resumed: the client's rate and the drain rate alone
//   SWEEP=batched:2:10/20,batched:2::lag0:notriggers   extra cases: recorder settings (msgs/waitMs;
//             empty: defaults), optionally another LAG, and `notriggers` (what-if: the kept-count
//             triggers on aibridge_interceptions disabled on the scratch database); SWEEP_RUNS=2.
//             A setting listed several times is summarised over all its runs (sweep_by_setting).
//   STORE=1200,6000,20000   the recorder's work for one transaction of that many records, timed
//             statement by statement in this process (no bus; '' skips); what-ifs on the scratch
//             database: STORE_WHATIF='no ends,fewer indexes,no triggers' at STORE_WHATIF_SIZES=6000,20000
//   APPEND_AS=<key>  keep the result file and add this run's report under <key> (follow-up runs)
//   FLOORS=1  RAW=1  (0 skips)  WAIT_QUIET_MIN=30 (other benches)  IDLE_MAX_PCT=25 IDLE_WAIT_MIN=10 (other load)  RESULT=aibridge-ingest (none: print only)
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  appEnv,
  baselineBusy,
  build,
  cpuMeter,
  createBenchDb,
  deleteStreams,
  dist,
  freePort,
  median,
  NATS_URL,
  pgClient,
  require,
  root,
  round,
  sleep,
  startApp,
  walBytes,
  walLsn,
  writeResult,
} from './chatd-common.mjs';

const env = process.env;
const RUNS = Number(env.RUNS ?? 3);
const RECORDS = Number(env.RECORDS ?? 200_000);
const RECORDS_UNBATCHED = Number(env.RECORDS_UNBATCHED ?? 60_000);
const WARMUP_RECORDS = Number(env.WARMUP_RECORDS ?? 12_000);
const WINDOW = Number(env.WINDOW ?? 4000);
const LAG = Number(env.LAG ?? 200);
const CLIENT_BATCH = Number(env.CLIENT_BATCH ?? 200);
const FLUSH_MS = Number(env.FLUSH_MS ?? 10);
const CASES = (env.CASES ?? 'batched:1,batched:2,unbatched:1,unbatched:2').split(',').filter(Boolean);
const SWEEP = (env.SWEEP ?? '').split(',').filter(Boolean);
const SWEEP_RUNS = Number(env.SWEEP_RUNS ?? 2);
const SPLIT = env.SPLIT === '1';
const SPLIT_CASES = env.SPLIT_CASES ? env.SPLIT_CASES.split(',').filter(Boolean) : CASES;
const FLOORS = env.FLOORS !== '0';
const RAW = env.RAW !== '0';
const STORE = (env.STORE ?? '1200,6000,20000').split(',').filter(Boolean).map(Number);
const STORE_WHATIF = (env.STORE_WHATIF ?? 'no ends,fewer indexes,no triggers').split(',').filter(Boolean);
const STORE_WHATIF_SIZES = (env.STORE_WHATIF_SIZES ?? '6000,20000').split(',').filter(Boolean).map(Number);
const FEWER_INDEXES = [
  'idx_aibridge_interceptions_client',
  'idx_aibridge_interceptions_model',
  'idx_aibridge_interceptions_provider',
  'idx_aibridge_interceptions_provider_name',
];
const WAIT_QUIET_MIN = Number(env.WAIT_QUIET_MIN ?? 30);
const IDLE_MAX_PCT = Number(env.IDLE_MAX_PCT ?? 25);
const IDLE_WAIT_MIN = Number(env.IDLE_WAIT_MIN ?? 10);
const RESULT = env.RESULT ?? 'aibridge-ingest';
const GOAL = 20_000;
const RUN_TIMEOUT_MS = 600_000;
const OTHER_BENCHES = 'bench/(chatd|aibridge-read)|bench-floors';

/** "msgs/waitMs" → recorder env. */
function recorderSettings(spec) {
  if (!spec) return {};
  const [msgs, wait] = spec.split('/');
  return {
    ...(msgs ? { AIBRIDGE_RECORDER_BATCH_MESSAGES: msgs } : {}),
    ...(wait ? { AIBRIDGE_RECORDER_BATCH_WAIT: `${wait}ms` } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Other load: wait until no other benchmark runs; CPU time of processes.

function otherBenches() {
  const r = spawnSync('pgrep', ['-af', OTHER_BENCHES], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .filter((l) => !l.startsWith(`${process.pid} `));
}

const quietWaits = [];
async function waitQuiet(label) {
  const t0 = Date.now();
  let seen = otherBenches();
  if (seen.length === 0) return;
  console.error(`[${label}] other benchmarks running, waiting: ${seen.join(' | ')}`);
  while (seen.length > 0) {
    if (Date.now() - t0 > WAIT_QUIET_MIN * 60_000)
      throw new Error(`other benchmarks still running after ${WAIT_QUIET_MIN} min: ${seen.join(' | ')}`);
    await sleep(30_000);
    seen = otherBenches();
  }
  quietWaits.push({ before: label, waited_s: Math.round((Date.now() - t0) / 1000) });
}

/**
 * After waitQuiet: waits (up to IDLE_WAIT_MIN) until the box's busy share over 3 s is at most
 * IDLE_MAX_PCT (other sessions' Jest runs); returns the last share measured.
 */
async function waitIdle(label) {
  const t0 = Date.now();
  for (;;) {
    await waitQuiet(label);
    const busy = await baselineBusy(3000);
    if (busy <= IDLE_MAX_PCT || Date.now() - t0 > IDLE_WAIT_MIN * 60_000) {
      if (Date.now() - t0 > 5000)
        quietWaits.push({ before: label, idle_wait_s: Math.round((Date.now() - t0) / 1000), busy_pct: busy });
      return busy;
    }
    console.error(`[${label}] box ${busy} % busy, waiting`);
    await sleep(15_000);
  }
}

const HZ = 100; // USER_HZ
const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
};

function natsServerPid() {
  const pids = spawnSync('pgrep', ['-x', 'nats-server'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);
  const port = new URL(NATS_URL).port || '4222';
  return pids.find((p) => cmdline(p).includes(`-p ${port}`)) ?? pids[0];
}

/** Every process's CPU ms, with a label: our roles, Postgres by kind, else its command. */
function processCpu(dbName, roles) {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
    let label = roles.get(Number(d));
    if (!label) {
      const cl = cmdline(d);
      if (cl.startsWith('postgres:') || comm === 'postgres') {
        if (cl.includes(` ${dbName} `)) label = 'pg_ours';
        else if (/ postgres \S+ \S+ /.test(cl)) label = 'pg_other_backends';
        else label = 'pg_background';
      } else if (comm === 'node' || comm.startsWith('node')) {
        const script = cl.split(' ').find((a, i) => i > 0 && !a.startsWith('-')) ?? '';
        label = `node ${script.split('/').slice(-2).join('/')}`;
      } else label = comm;
    }
    out.set(d, { label, ms });
  }
  return out;
}

/** Busy CPU ms of the whole box (both cores), from /proc/stat. */
function boxBusyMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = f.reduce((a, b) => a + b, 0) - f[3] - (f[4] ?? 0) - (f[7] ?? 0);
  return (busy * 1000) / HZ;
}

/**
 * CPU seconds used since the call, by role: this process (the client), each recorder,
 * nats-server, Postgres (our database's backends, background processes, other databases'
 * backends), the largest other consumers, and what no live process accounts for (kernel
 * softirq work, processes that exited meanwhile).
 */
function cpuProbe(dbName, recorderPids) {
  const roles = new Map([[process.pid, 'client']]);
  recorderPids.forEach((p, i) => roles.set(p, `recorder_${i}`));
  const natsPid = natsServerPid();
  if (natsPid) roles.set(natsPid, 'nats');
  const before = processCpu(dbName, roles);
  const busy0 = boxBusyMs();
  return () => {
    const after = processCpu(dbName, roles);
    const busy = boxBusyMs() - busy0;
    const by = {};
    let total = 0;
    // A process that appeared meanwhile counts from 0; one that exited is lost (unattributed).
    for (const [pid, a] of after) {
      const d = a.ms - (before.get(pid)?.ms ?? 0);
      if (d <= 0) continue;
      by[a.label] = (by[a.label] ?? 0) + d;
      total += d;
    }
    const s = (ms) => round((ms ?? 0) / 1000, 2);
    const known = new Set(['client', 'nats', 'pg_ours', 'pg_background', 'pg_other_backends']);
    const others = Object.entries(by)
      .filter(([k]) => !known.has(k) && !k.startsWith('recorder_'))
      .sort((a, b) => b[1] - a[1]);
    return {
      client_cpu_s: s(by.client),
      recorder_cpu_s: recorderPids.map((_, i) => s(by[`recorder_${i}`])),
      nats_cpu_s: s(by.nats),
      pg_ours_cpu_s: s(by.pg_ours),
      pg_background_cpu_s: s(by.pg_background),
      pg_other_backends_cpu_s: s(by.pg_other_backends),
      other_cpu_s: s(others.reduce((a, [, v]) => a + v, 0)),
      other_top: others.slice(0, 4).map(([k, v]) => `${k} ${s(v)}`),
      unattributed_cpu_s: s(Math.max(0, busy - total)),
      box_busy_cpu_s: s(busy),
    };
  };
}

/** Sums of a recorder's Prometheus metrics we read: batch sizes and handled messages. */
async function recorderMetrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const pick = (re) => {
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = line.match(re);
      if (m) sum += Number(m[1]);
    }
    return sum;
  };
  return {
    txCount: pick(/^agentmesh_consumer_batch_size_count\{[^}]*\} (\S+)$/),
    txMessages: pick(/^agentmesh_consumer_batch_size_sum\{[^}]*\} (\S+)$/),
    retries: pick(/^agentmesh_consumer_messages_total\{[^}]*outcome="retry"[^}]*\} (\S+)$/),
    deadLetters: pick(/^agentmesh_consumer_messages_total\{[^}]*outcome="dead_letter"[^}]*\} (\S+)$/),
  };
}

// ---------------------------------------------------------------------------------------
// The records.

const PROVIDERS = [
  ['anthropic', 'anthropic', 'claude-sonnet-4-5', 'Claude Code', 'claude-cli/2.0.14 (external, cli)'],
  ['openai', 'openai', 'gpt-5-codex', 'Codex', 'codex_cli_rs/0.46.0 (Debian 12; x86_64) xterm-256color'],
  ['copilot', 'copilot-business', 'gpt-4.1', 'GitHub Copilot (VS Code)', 'GitHubCopilotChat/0.32.3'],
];
const TOOLS = ['Read', 'Bash', 'Edit', 'Grep', 'bmcp_github_search_issues'];
const TEXT =
  'The build fails on CI but passes locally. Look at the failing step in the workflow log, find ' +
  'the test that times out, and explain why it only happens on the runner. Then propose a fix ' +
  'that keeps the retry logic but bounds the total wait, update the unit tests accordingly, and ' +
  'make sure the lint step passes with the new code. Keep the public API unchanged; if a breaking ' +
  'change is unavoidable, list the callers that need an update and why. Here is the stack trace: ' +
  'Error: timeout of 5000ms exceeded at listOnTimeout (node:internal/timers:573:17) at process.' +
  'processTimers (node:internal/timers:514:7) while resolving the fixture database connection.';
const hex = (n) => randomBytes(n).toString('hex');

/**
 * The records of `records / 6` interceptions, in the order a gateway running many
 * interceptions at once would send them: at step j the start, prompt and first token of
 * interception j, and the second token, tool call and end of interception j − LAG.
 */
function makeItems(records, lag = LAG) {
  const n = Math.ceil(records / 6);
  const users = Array.from({ length: 50 }, () => randomUUID());
  const base = Date.now() - 86_400_000;
  const at = (ms) => new Date(base + ms).toISOString();
  const ids = Array.from({ length: n }, () => randomUUID());
  const toolCall = (k) => `toolu_${ids[k].replace(/-/g, '').slice(0, 24)}`;
  const items = [];
  const head = (j) => {
    const [provider, providerName, model, client, ua] = PROVIDERS[j % 3];
    const t = j * 25;
    const start = {
      id: ids[j],
      initiator_id: users[j % 50],
      provider,
      provider_name: providerName,
      model,
      started_at: at(t),
      metadata: {
        route: provider === 'anthropic' ? '/v1/messages' : '/v1/responses',
        request_id: `req_${hex(12)}`,
      },
      api_key_id: `key-${ids[j].slice(0, 10)}`,
      client,
      user_agent: ua,
      client_session_id: `cs-${ids[j - (j % 3)].slice(0, 18)}`,
      credential_kind: j % 4 === 0 ? 'byok' : 'centralized',
      credential_hint: 'sk-a...efgh',
    };
    if (j % 3 !== 0 && j - lag - 1 >= 0) start.correlating_tool_call_id = toolCall(j - lag - 1);
    items.push(['interception.started', start]);
    const off = (j * 37) % 300;
    items.push([
      'usage.prompt',
      {
        id: randomUUID(),
        interception_id: ids[j],
        provider_response_id: `msg_${hex(12)}`,
        prompt: TEXT.slice(off, off + 200 + ((j * 53) % 500)).repeat(1 + (j % 2)),
        metadata: {},
        created_at: at(t + 5),
      },
    ]);
    items.push(['usage.token', token(j, 0, t + 3000)]);
  };
  const token = (k, i, t) => ({
    id: randomUUID(),
    interception_id: ids[k],
    provider_response_id: `msg_${hex(12)}`,
    input_tokens: 1200 + ((k * 97) % 20_000),
    output_tokens: 80 + ((k * 31) % 2000),
    cache_read_input_tokens: i === 0 ? (k * 211) % 60_000 : 0,
    cache_write_input_tokens: i === 0 ? 0 : (k * 13) % 4000,
    metadata: { output_reasoning: (k * 7) % 512, web_search_requests: 0 },
    created_at: at(t),
  });
  const tail = (k) => {
    const t = k * 25;
    items.push(['usage.token', token(k, 1, t + 6000)]);
    const injected = k % 5 === 0;
    const tool = TOOLS[k % TOOLS.length];
    items.push([
      'usage.tool',
      {
        id: randomUUID(),
        interception_id: ids[k],
        provider_response_id: `msg_${hex(12)}`,
        provider_tool_call_id: toolCall(k),
        ...(injected ? { server_url: 'https://mcp.example.com/mcp' } : {}),
        tool: injected ? 'bmcp_github_search_issues' : tool,
        input: JSON.stringify(
          tool === 'Bash'
            ? { command: `npx jest apps/chat-api/test/module${k % 40}.spec.ts --runInBand`, timeout: 120000 }
            : { file_path: `/work/repo/src/module${k % 200}/file${k % 37}.ts`, offset: k % 500, limit: 200 },
        ),
        injected,
        ...(injected && k % 10 === 0 ? { invocation_error: 'upstream returned 502' } : {}),
        metadata: {},
        created_at: at(t + 6500),
      },
    ]);
    items.push(['interception.ended', { id: ids[k], ended_at: at(t + 7000) }]);
  };
  for (let j = 0; j < n + lag; j++) {
    if (j < n) head(j);
    if (j - lag >= 0 && j - lag < n) tail(j - lag);
  }
  return {
    items,
    interceptions: n,
    expected: { started: n, ended: n, tokens: 2 * n, prompts: n, tools: n },
  };
}

const METHOD = {
  'interception.started': 'recordInterceptionStarted',
  'interception.ended': 'recordInterceptionEnded',
  'usage.token': 'recordTokenUsage',
  'usage.prompt': 'recordPromptUsage',
  'usage.tool': 'recordToolUsage',
};

/** Publishes every item through the client, at most WINDOW records unacked at a time. */
async function publishAll(client, items) {
  let inflight = 0;
  let wake;
  let failed;
  let maxSeq = 0;
  let messages = 0;
  const seen = new Set();
  const settle = () => {
    inflight--;
    if (wake && inflight < WINDOW) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const ok = (ack) => {
    if (ack.seq > maxSeq) maxSeq = ack.seq;
    if (!seen.has(ack.seq)) {
      seen.add(ack.seq);
      messages++;
    }
    settle();
  };
  const fail = (e) => {
    failed ??= e;
    settle();
  };
  const t0 = performance.now();
  for (const [kind, rec] of items) {
    if (inflight >= WINDOW) await new Promise((r) => (wake = r));
    if (failed) throw failed;
    inflight++;
    client[METHOD[kind]](rec).then(ok, fail);
  }
  await client.flush();
  const t1 = performance.now();
  if (failed) throw failed;
  return { t0, t1, maxSeq, messages };
}

// ---------------------------------------------------------------------------------------
// Floors and the raw JetStream reference.

function runFloors() {
  const src = resolve(env.BENCH_FLOORS_SRC ?? join(root, '../shared/bench-floors'));
  const floorsDir = env.FLOORS_DIR;
  if (!floorsDir || !existsSync(join(floorsDir, 'node_modules/pg')))
    throw new Error(
      'FLOORS_DIR must point at a directory where shared/bench-floors/package.json is installed',
    );
  const commands = [
    ['nats_throughput', 'nats_throughput.js', { RUNS: '3', P: '500000', J: '100000' }],
    ['pg_insert', 'pg_insert.js', { RUNS: '3', ROWS: '100000', BATCH: '500', CLIENTS: '1,2' }],
  ];
  const results = {};
  for (const [key, script, vars] of commands) {
    const command = `${Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} node ${script}`;
    console.error(`floor: ${command}`);
    const started = Date.now();
    const r = spawnSync(process.execPath, [join(src, script)], {
      cwd: src,
      env: { ...env, ...vars, FLOORS_DIR: floorsDir },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${script} failed with ${r.status}`);
    results[key] = {
      command,
      at: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      lines: r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
    };
  }
  return results;
}

/** The floor's shape: 256 B messages without headers, windows of 1,000. */
const B256 = {
  key: 'b256',
  data: Buffer.alloc(256, 0x62),
  records: 1,
  count: 100_000,
  window: 1000,
  msgId: false,
};

/**
 * Raw `js.publish` rates on a file stream of our own (the floor's shape: promises awaited in
 * windows), for 256 B messages without headers, and for messages shaped like the client's
 * (one record / one batch, with a message id).
 */
async function rawJetStream(nc, prefix, shapes, runs = RUNS) {
  const { jetstream, jetstreamManager, StorageType } = require('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = `${prefix.toUpperCase()}_RAWREF`;
  await jsm.streams.add({ name, subjects: [`${prefix}.rawref.>`], storage: StorageType.File });
  const out = [];
  try {
    for (const shape of shapes) {
      const rates = [];
      const meter = cpuMeter();
      for (let r = 0; r < runs + 1; r++) {
        await jsm.streams.purge(name);
        const t0 = performance.now();
        for (let i = 0; i < shape.count; i += shape.window) {
          const ps = [];
          for (let k = 0; k < shape.window && i + k < shape.count; k++)
            ps.push(
              js.publish(
                `${prefix}.rawref.${shape.key}`,
                shape.data,
                shape.msgId ? { msgID: `${shape.key}:${r}:${i + k}` } : undefined,
              ),
            );
          await Promise.all(ps);
        }
        const rate = shape.count / ((performance.now() - t0) / 1000);
        if (r > 0) rates.push(rate);
        console.error(`raw ${shape.key} run ${r}${r === 0 ? ' (warm-up)' : ''}: ${Math.round(rate)} msgs/s`);
      }
      out.push({
        shape: shape.key,
        bytes: shape.data.length,
        records_per_message: shape.records,
        msg_id: shape.msgId,
        messages: shape.count,
        window_messages: shape.window,
        msgs_per_s_median: Math.round(median(rates)),
        msgs_per_s_range: [Math.round(Math.min(...rates)), Math.round(Math.max(...rates))],
        records_per_s_median: Math.round(median(rates) * shape.records),
        mb_per_s_median: round((median(rates) * shape.data.length) / 1e6, 1),
        ...meter(),
      });
    }
  } finally {
    await jsm.streams.delete(name);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The cases.

await waitQuiet('build');
build();
const { AibridgeRecorderClient, SubjectCatalog } = dist('libs/bus/src/index.js');
const { connect } = require('@nats-io/transport-node');
const { jetstreamManager } = require('@nats-io/jetstream');

const report = {
  setup: {
    runs: RUNS,
    records_batched: RECORDS,
    records_unbatched: RECORDS_UNBATCHED,
    warmup_records: WARMUP_RECORDS,
    window_records: WINDOW,
    lag_interceptions: LAG,
    client: { maxBatchRecords: CLIENT_BATCH, flushIntervalMs: FLUSH_MS },
    recorder_batched: env.RECORDER_BATCHED ?? 'defaults (100 messages / 20 ms)',
    recorder_unbatched: env.RECORDER_UNBATCHED ?? 'defaults (100 messages / 20 ms)',
    mix: '1 interception.started + 2 usage.token + 1 usage.prompt + 1 usage.tool + 1 interception.ended',
    node: process.version,
  },
};

await waitIdle('floors');
if (FLOORS) report.floors = runFloors();

const db = await createBenchDb('ingest');
const prefix = `benchingest${process.pid}`;
const streamName = new SubjectCatalog(prefix).streamName('AIBRIDGE');
const pg = await pgClient(db.url);
const sampler = await pgClient(db.url);
const ownPids = [
  (await pg.query('SELECT pg_backend_pid() AS p')).rows[0].p,
  (await sampler.query('SELECT pg_backend_pid() AS p')).rows[0].p,
];
const nc = await connect({ servers: [NATS_URL], name: 'aibridge-ingest-bench' });
const jsm = await jetstreamManager(nc);
let recorders = [];

let cleaning;
/** Stops the recorders, drops the scratch database and deletes the prefix's streams (once). */
function cleanup() {
  cleaning ??= (async () => {
    await stopRecorders();
    await sampler.end();
    await pg.end();
    await nc.close();
    await db.drop();
    await deleteStreams(prefix);
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });

async function startRecorders(count, settings) {
  const started = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const app = await startApp(
      'apps/aibridge-recorder/src/main.js',
      appEnv(db.url, prefix, { HEALTH_PORT: String(port), ...settings }),
      `http://127.0.0.1:${port}/readyz`,
    );
    started.push({ ...app, port });
  }
  return started;
}

async function stopRecorders() {
  for (const r of recorders) {
    if (r.child.exitCode === null) r.child.kill('SIGCONT');
    await r.stop();
  }
  recorders = [];
}

async function counts() {
  const { rows } = await pg.query(`SELECT
      (SELECT count(*)::int FROM aibridge_interceptions) AS started,
      (SELECT count(*)::int FROM aibridge_interceptions WHERE ended_at IS NOT NULL) AS ended,
      (SELECT count(*)::int FROM aibridge_token_usages) AS tokens,
      (SELECT count(*)::int FROM aibridge_user_prompts) AS prompts,
      (SELECT count(*)::int FROM aibridge_tool_usages) AS tools`);
  return rows[0];
}

let aibridgeTables;
/** Empties every aibridge_* table (records and kept counts), purges the stream, checkpoints. */
async function reset() {
  aibridgeTables ??= (
    await pg.query(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'aibridge\\_%'`,
    )
  ).rows.map((r) => r.tablename);
  await pg.query(`TRUNCATE ${aibridgeTables.join(', ')}`);
  await jsm.streams.purge(streamName).catch(() => undefined);
  await pg.query('CHECKPOINT');
  await sleep(500);
}

/** The first poll at which the consumer has acked every message up to `maxSeq`. */
async function waitDrained(maxSeq, deadline) {
  for (;;) {
    const i = await jsm.consumers.info(streamName, 'aibridge-recorder');
    if (i.num_pending === 0 && i.num_ack_pending === 0 && i.ack_floor.stream_seq >= maxSeq)
      return performance.now();
    if (performance.now() > deadline) throw new Error(`not drained: ${JSON.stringify(i)}`);
    await sleep(10);
  }
}

async function waitCounts(expected, deadline) {
  for (;;) {
    const c = await counts();
    if (Object.entries(expected).every(([k, v]) => c[k] === v)) return c;
    if (Object.entries(expected).some(([k, v]) => c[k] > v))
      throw new Error(`too many rows: ${JSON.stringify(c)}`);
    if (performance.now() > deadline)
      throw new Error(`rows missing: ${JSON.stringify(c)} vs ${JSON.stringify(expected)}`);
    await sleep(100);
  }
}

/**
 * Samples pg_stat_activity every 25 ms for the recorders' backends (our database, other than
 * this process's connections): what a backend was doing, by share of samples — running (on
 * CPU or about to be), waiting for a lock (Lock: row or transaction locks), for an LWLock, for
 * I/O (WAL writes and flushes, data files), idle in transaction (waiting for the recorder's
 * next statement), or idle (no transaction: the recorder is decoding, validating, acking or
 * waiting for messages).
 */
function waitSampler(c, dbName, ownPids) {
  const tally = {};
  let samples = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const { rows } = await c.query(
        `SELECT state, wait_event_type AS t, wait_event AS e FROM pg_stat_activity
          WHERE datname = $1 AND backend_type = 'client backend' AND pid <> ALL($2)`,
        [dbName, ownPids],
      );
      for (const r of rows) {
        let k;
        if (r.state === 'idle') k = 'idle';
        else if (r.state === 'idle in transaction') k = 'idle_in_transaction';
        else if (!r.t) k = 'running';
        else if (r.t === 'Lock') k = `lock:${r.e}`;
        else if (r.t === 'IO') k = `io:${r.e}`;
        else if (r.t === 'LWLock') k = `lwlock:${r.e}`;
        else k = `${r.t}:${r.e}`;
        tally[k] = (tally[k] ?? 0) + 1;
      }
      samples++;
      await sleep(25);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    const total = Object.values(tally).reduce((a, b) => a + b, 0) || 1;
    return Object.fromEntries(
      Object.entries(tally)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round((100 * v) / total, 1)]),
    );
  };
}

/** One run: publish everything, wait until committed. `split`: recorders stopped while publishing. */
async function oneRun(mode, records, { split = false, lag = LAG } = {}) {
  await reset();
  const { items, expected } = makeItems(records, lag);
  const client = AibridgeRecorderClient.fromConnection(nc, prefix, {
    batching: mode === 'batched',
    maxBatchRecords: CLIENT_BATCH,
    flushIntervalMs: FLUSH_MS,
  });
  const before = await Promise.all(recorders.map((r) => recorderMetrics(r.port)));
  const lsn = await walLsn(pg);
  const probe = cpuProbe(
    db.name,
    recorders.map((r) => r.child.pid),
  );
  const meter = cpuMeter();
  const stopSampling = waitSampler(sampler, db.name, ownPids);
  if (split) for (const r of recorders) r.child.kill('SIGSTOP');
  const pub = await publishAll(client, items);
  let resumedAt;
  if (split) {
    resumedAt = performance.now();
    for (const r of recorders) r.child.kill('SIGCONT');
  }
  const deadline = performance.now() + RUN_TIMEOUT_MS;
  const drainedAt = await waitDrained(pub.maxSeq, deadline);
  const cpu = meter();
  const cpuBy = probe();
  const backendStates = await stopSampling();
  const wal = await walBytes(pg, lsn);
  await waitCounts(expected, deadline);
  const countedAt = performance.now();
  await client.close();
  const after = await Promise.all(recorders.map((r) => recorderMetrics(r.port)));
  const sum = (k) => after.reduce((a, m, i) => a + m[k] - before[i][k], 0);
  const n = items.length;
  const bytes = items.reduce((a, [, rec]) => a + Buffer.byteLength(JSON.stringify(rec)), 0);
  const seconds = (drainedAt - pub.t0) / 1000;
  const run = {
    records: n,
    messages: pub.messages,
    records_per_message: round(n / pub.messages, 1),
    avg_record_json_bytes: Math.round(bytes / n),
    seconds: round(seconds, 3),
    records_per_s: Math.round(n / seconds),
    publish_s: round((pub.t1 - pub.t0) / 1000, 3),
    published_per_s: Math.round(n / ((pub.t1 - pub.t0) / 1000)),
    ...(split
      ? {
          drain_s: round((drainedAt - resumedAt) / 1000, 3),
          drained_per_s: Math.round(n / ((drainedAt - resumedAt) / 1000)),
        }
      : {}),
    rows_checked_after_ms: Math.round(countedAt - drainedAt),
    recorder_transactions: sum('txCount'),
    messages_per_transaction: round(sum('txMessages') / Math.max(1, sum('txCount')), 1),
    records_per_transaction: round(n / Math.max(1, sum('txCount')), 0),
    redeliveries: sum('retries'),
    dead_letters: sum('deadLetters'),
    wal_bytes_per_record: Math.round(wal / n),
    recorder_backend_states_pct: backendStates,
    ...cpuBy,
    ...cpu,
  };
  if (run.dead_letters > 0) throw new Error(`${run.dead_letters} messages dead-lettered`);
  return run;
}

function summarise(runs) {
  const m = (k) => median(runs.map((r) => r[k]));
  return {
    records_per_s_median: Math.round(m('records_per_s')),
    records_per_s_range: [
      Math.min(...runs.map((r) => r.records_per_s)),
      Math.max(...runs.map((r) => r.records_per_s)),
    ],
    published_per_s_median: Math.round(m('published_per_s')),
    ...(runs[0].drained_per_s !== undefined ? { drained_per_s_median: Math.round(m('drained_per_s')) } : {}),
    // CPU µs per record committed, by role (median of runs).
    cpu_us_per_record: Object.fromEntries(
      [
        ['client', (r) => r.client_cpu_s],
        ['recorders', (r) => r.recorder_cpu_s.reduce((a, b) => a + b, 0)],
        ['nats', (r) => r.nats_cpu_s],
        ['postgres_ours', (r) => r.pg_ours_cpu_s],
        ['box_busy', (r) => r.box_busy_cpu_s],
      ].map(([k, f]) => [k, Math.round(median(runs.map((r) => (f(r) * 1e6) / r.records)))]),
    ),
    redelivered_messages_median: m('redeliveries'),
    busy_pct_median: m('busy_pct'),
    steal_pct_max: Math.max(...runs.map((r) => r.steal_pct)),
  };
}

async function runCase(spec, { runs = RUNS, settingsSpec, split = false } = {}) {
  const [mode, replicasText, sweepSettings, ...flags] = spec.split(':');
  const lagFlag = flags.find((f) => /^lag\d+$/.test(f));
  const lag = lagFlag ? Number(lagFlag.slice(3)) : LAG;
  const noTriggers = flags.includes('notriggers');
  const replicas = Number(replicasText);
  const settingsText =
    sweepSettings ?? settingsSpec ?? (mode === 'batched' ? env.RECORDER_BATCHED : env.RECORDER_UNBATCHED);
  const settings = recorderSettings(settingsText);
  const records = mode === 'batched' ? RECORDS : RECORDS_UNBATCHED;
  const label = `${mode} × ${replicas}${settingsText ? ` (${settingsText})` : ''}${lag !== LAG ? ` lag ${lag}` : ''}${
    noTriggers ? ' no stats triggers' : ''
  }${split ? ' split' : ''}`;
  const busyBefore = await waitIdle(label);
  const ref = RAW ? await rawJetStream(nc, prefix, [B256], 1) : undefined;
  // What-if on the scratch database: the kept-count triggers on aibridge_interceptions off.
  if (noTriggers) await pg.query('ALTER TABLE aibridge_interceptions DISABLE TRIGGER USER');
  recorders = await startRecorders(replicas, settings);
  const out = {
    case: label,
    mode,
    replicas,
    recorder_env: settings,
    lag_interceptions: lag,
    stats_triggers: !noTriggers,
    split,
    busy_before_pct: busyBefore,
    raw_js_256b_just_before: ref?.[0].msgs_per_s_median,
    started_at: new Date().toISOString(),
    runs: [],
  };
  try {
    const warm = await oneRun(mode, WARMUP_RECORDS, { split, lag });
    console.error(`${label} warm-up: ${warm.records_per_s} records/s`);
    for (let r = 0; r < runs; r++) {
      const run = await oneRun(mode, records, { split, lag });
      out.runs.push(run);
      console.error(`${label} run ${r + 1}: ${JSON.stringify(run)}`);
    }
  } finally {
    await stopRecorders();
    if (noTriggers) await pg.query('ALTER TABLE aibridge_interceptions ENABLE TRIGGER USER');
  }
  Object.assign(out, summarise(out.runs));
  console.error(`${label}: median ${out.records_per_s_median} records/s (busy before ${busyBefore} %)`);
  return out;
}

/**
 * The recorder's work for one transaction, in this process, without the bus: the client-built
 * batch messages (CLIENT_BATCH records each) decoded as the consumer does, validated with
 * parseAibridgeValue, and stored by the recorder's own storeAibridgeRecords (dist/) in one
 * transaction on empty tables, each statement timed.
 */
async function storeBreakdown(sizes, reps, variant = 'as shipped') {
  const { DataSource } = require('typeorm');
  const { storeAibridgeRecords } = dist('apps/aibridge-recorder/src/recorder/records.store.js');
  const { parseAibridgeValue } = dist('libs/contracts/src/index.js');
  const { decodeJson } = dist('libs/bus/src/codec.js');
  const { inTransaction } = dist('libs/db/src/index.js');
  const ds = new DataSource({ type: 'postgres', url: db.url, extra: { max: 2 } });
  await ds.initialize();
  const out = [];
  try {
    for (const size of sizes) {
      const reps_ = [];
      for (let rep = 0; rep < reps + 1; rep++) {
        await reset();
        const { items } = makeItems(size);
        const bodies = [];
        for (let i = 0; i < items.length; i += CLIENT_BATCH) {
          const json = items
            .slice(i, i + CLIENT_BATCH)
            .map(([kind, rec]) => JSON.stringify({ kind, ...rec }));
          bodies.push(
            new TextEncoder().encode(`{"v":1,"id":"${randomUUID()}","records":[${json.join(',')}]}`),
          );
        }
        const t0 = performance.now();
        const payloads = bodies.map((b) => decodeJson(b));
        const t1 = performance.now();
        let records = payloads.flatMap((p) => parseAibridgeValue('batch', p).records);
        const t2 = performance.now();
        if (variant === 'no ends') records = records.filter((r) => r.kind !== 'interception.ended');
        const statements = {};
        await inTransaction(ds, async (em) => {
          const query = em.query.bind(em);
          em.query = async (sql, params) => {
            const kind =
              /^\s*WITH input AS/.test(sql) || /UPDATE aibridge_interceptions/.test(sql)
                ? 'end'
                : (sql.match(/INSERT INTO (\w+)/)?.[1] ?? 'other');
            const s0 = performance.now();
            const bytes = Buffer.byteLength(params?.[0] ?? '');
            const r = await query(sql, params);
            statements[kind] = { ms: round(performance.now() - s0, 1), param_kb: Math.round(bytes / 1024) };
            return r;
          };
          return storeAibridgeRecords(em, records);
        });
        const t3 = performance.now();
        const stmtMs = Object.values(statements).reduce((a, x) => a + x.ms, 0);
        const rep1 = {
          records: records.length,
          decode_ms: round(t1 - t0, 1),
          validate_ms: round(t2 - t1, 1),
          transaction_ms: round(t3 - t2, 1),
          statements,
          begin_commit_and_js_ms: round(t3 - t2 - stmtMs, 1),
          records_per_s: Math.round(records.length / ((t3 - t0) / 1000)),
        };
        if (rep > 0) reps_.push(rep1);
        console.error(`store ${size}${rep === 0 ? ' (warm-up)' : ''}: ${JSON.stringify(rep1)}`);
      }
      const med = (f) => round(median(reps_.map(f)), 1);
      out.push({
        variant,
        records: size,
        decode_ms: med((r) => r.decode_ms),
        validate_ms: med((r) => r.validate_ms),
        transaction_ms: med((r) => r.transaction_ms),
        statements_ms: Object.fromEntries(
          Object.keys(reps_[0].statements).map((k) => [k, med((r) => r.statements[k].ms)]),
        ),
        statement_param_kb: Object.fromEntries(
          Object.entries(reps_[0].statements).map(([k, v]) => [k, v.param_kb]),
        ),
        begin_commit_and_js_ms: med((r) => r.begin_commit_and_js_ms),
        records_per_s: Math.round(median(reps_.map((r) => r.records_per_s))),
        runs: reps_,
      });
    }
  } finally {
    await ds.destroy();
  }
  return out;
}

try {
  if (RAW) {
    report.raw_busy_before_pct = await waitIdle('raw');
    const sample = makeItems(CLIENT_BATCH);
    const recordJson = sample.items.map(([kind, rec]) => JSON.stringify({ kind, ...rec }));
    const batchBody = `{"v":1,"id":"${randomUUID()}","records":[${recordJson.slice(0, CLIENT_BATCH).join(',')}]}`;
    // A single-record message of about the mix's mean size.
    const sizes = sample.items.map(([, rec]) => JSON.stringify({ v: 1, ...rec }));
    const mean = sizes.reduce((a, t) => a + t.length, 0) / sizes.length;
    const oneBody = sizes.reduce((a, t) => (Math.abs(t.length - mean) < Math.abs(a.length - mean) ? t : a));
    report.raw_jetstream = await rawJetStream(nc, prefix, [
      B256,
      {
        key: 'record',
        data: Buffer.from(oneBody),
        records: 1,
        count: 100_000,
        window: Math.min(WINDOW, 1000),
        msgId: true,
      },
      {
        key: 'batch',
        data: Buffer.from(batchBody),
        records: CLIENT_BATCH,
        count: Math.max(200, Math.round(RECORDS / CLIENT_BATCH)),
        window: Math.max(1, Math.round(WINDOW / CLIENT_BATCH)),
        msgId: true,
      },
    ]);
  }
  report.cases = [];
  for (const spec of CASES) report.cases.push(await runCase(spec));
  if (SPLIT) {
    report.split = [];
    for (const spec of SPLIT_CASES) report.split.push(await runCase(spec, { runs: SWEEP_RUNS, split: true }));
  }
  if (STORE.length > 0) {
    report.store_busy_before_pct = await waitIdle('store');
    report.store_breakdown = await storeBreakdown(STORE, 3);
    for (const w of STORE_WHATIF) {
      // What-ifs on the scratch database only: `no ends` leaves the interception.ended records
      // out (an end folded into its start's insert, as the store could do when both are in one
      // batch); `fewer indexes` drops the four single-column indexes on low-cardinality
      // columns of aibridge_interceptions (client, model, provider, provider_name) first;
      // `no triggers` disables the kept-count triggers on aibridge_interceptions.
      const dropped = [];
      if (w === 'no triggers') await pg.query('ALTER TABLE aibridge_interceptions DISABLE TRIGGER USER');
      if (w === 'fewer indexes') {
        const { rows } = await pg.query(
          `SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY($1)`,
          [FEWER_INDEXES],
        );
        for (const r of rows) {
          await pg.query(`DROP INDEX ${r.indexname}`);
          dropped.push(r.indexdef);
        }
      }
      try {
        report.store_breakdown.push(...(await storeBreakdown(STORE_WHATIF_SIZES, 3, w)));
      } finally {
        for (const def of dropped) await pg.query(def);
        if (w === 'no triggers') await pg.query('ALTER TABLE aibridge_interceptions ENABLE TRIGGER USER');
      }
    }
  }
  if (SWEEP.length > 0) {
    report.sweep = [];
    for (const spec of SWEEP) report.sweep.push(await runCase(spec, { runs: SWEEP_RUNS }));
  }
} finally {
  await cleanup();
}

// Ratios: ours ÷ reference (records/s ÷ records-equivalent msgs/s; ÷ rows/s).
const floorLine = (key, pred) => report.floors?.[key]?.lines.find(pred);
const refs = {
  raw_js_256b_same_run: report.raw_jetstream?.find((x) => x.shape === 'b256')?.msgs_per_s_median,
  floor_js_pub: floorLine('nats_throughput', (l) => l.name === 'nats_js_pub')?.msgs_per_s_median,
  floor_pg_insert_1: floorLine('pg_insert', (l) => l.mode === 'unnest' && l.clients === 1)?.rows_per_s_median,
  floor_pg_insert_2: floorLine('pg_insert', (l) => l.mode === 'unnest' && l.clients === 2)?.rows_per_s_median,
};
report.references = Object.fromEntries(Object.entries(refs).map(([k, v]) => [k, v && Math.round(v)]));
for (const c of [...(report.cases ?? []), ...(report.split ?? []), ...(report.sweep ?? [])]) {
  c.ratios = Object.fromEntries(
    Object.entries({ ...report.references, raw_js_256b_just_before: c.raw_js_256b_just_before })
      .filter(([, v]) => v)
      .map(([k, v]) => [k, round(c.records_per_s_median / v, 2)]),
  );
  c.goal_met = c.mode === 'batched' ? c.records_per_s_median >= GOAL : undefined;
}
if (report.sweep) {
  // Settings listed more than once (interleaved with others) are summarised over all their runs.
  const by = new Map();
  for (const c of report.sweep) by.set(c.case, [...(by.get(c.case) ?? []), c]);
  report.sweep_by_setting = [...by.entries()].map(([label, cs]) => {
    const runs = cs.flatMap((c) => c.runs);
    return {
      case: label,
      cases: cs.length,
      runs: runs.length,
      ratio_to_raw_just_before_median: round(
        median(cs.map((c) => c.ratios.raw_js_256b_just_before).filter((x) => x !== undefined)),
        2,
      ),
      ...summarise(runs),
    };
  });
}
report.quiet_waits = quietWaits;

if (RESULT === 'none') console.log(JSON.stringify(report, null, 2));
else if (env.APPEND_AS) {
  // A follow-up run (e.g. an interleaved tuning comparison) kept beside the main one.
  const file = join(root, 'bench/results', `${RESULT}.json`);
  const earlier = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  await writeResult(RESULT, { ...earlier, [env.APPEND_AS]: { at: new Date().toISOString(), ...report } });
} else await writeResult(RESULT, report);
