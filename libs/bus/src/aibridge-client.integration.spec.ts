// AibridgeRecorderClient against the real NATS server: records land on their kind's subject
// (unbatched) or in `{p}.aibridge.batch` messages with the Nats-Msg-Id the contract names; the
// stream drops a repeat inside its window; batches go out at 200 records, at the flush interval,
// and early when they would outgrow a message; invalid records are refused without publishing;
// transient failures (no stream yet, an ack that timed out) are retried with the same message
// id, permanent ones and exhausted retries reject every record the message carried.
import { randomUUID } from 'node:crypto';
import { jetstreamManager, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { TestingModule } from '@nestjs/testing';
import { AibridgeInput, AibridgeKind, parseAibridgeMessage } from '@agentmesh/contracts';
import {
  deleteStreamsForPrefix,
  randomPrefix,
  TcpProxy,
  TEST_NATS_URL,
  useTestDatabase,
} from '@agentmesh/testing';
import { busTestModule } from '../test/bus-test-module';
import {
  AibridgeAck,
  AibridgeClientClosedError,
  AibridgeFlushTimer,
  AibridgePublishError,
  AibridgeRecorderClient,
  AibridgeRecorderOptions,
  AibridgeRetryEvent,
  aibridgeRecorderProvider,
  AibridgeValidationError,
} from './aibridge-client';
import { ensureStream, STREAMS } from './streams';
import { aibridgeKindOfSubject, SubjectCatalog } from './subjects';

const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
const STREAM = cat.streamName('AIBRIDGE');
const prefixes = [prefix];
const conns: NatsConnection[] = [];
const clients: AibridgeRecorderClient[] = [];
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
  conns.push(nc);
  jsm = await jetstreamManager(nc);
  await ensureStream(jsm, cat, STREAMS.AIBRIDGE);
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  for (const p of prefixes) await deleteStreamsForPrefix(p);
  for (const c of conns) if (!c.isClosed()) await c.close();
});

function client(
  opts: AibridgeRecorderOptions = {},
  on: NatsConnection = nc,
  p = prefix,
): AibridgeRecorderClient {
  const c = AibridgeRecorderClient.fromConnection(on, p, opts);
  clients.push(c);
  return c;
}

/** A flush timer the test fires by hand (it never fires on its own). */
class ManualTimer implements AibridgeFlushTimer {
  readonly scheduled: { fn: () => void; ms: number; cleared: boolean }[] = [];
  set(fn: () => void, ms: number): unknown {
    const t = { fn, ms, cleared: false };
    this.scheduled.push(t);
    return t;
  }
  clear(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
  /** Fires the timer that is still armed. */
  fire(): void {
    const armed = this.scheduled.filter((t) => !t.cleared);
    expect(armed).toHaveLength(1);
    armed[0].cleared = true;
    armed[0].fn();
  }
}

const now = () => new Date().toISOString();

const started = (
  over: Partial<AibridgeInput<'interception.started'>> = {},
): AibridgeInput<'interception.started'> => ({
  id: randomUUID(),
  initiator_id: randomUUID(),
  provider: 'openai',
  model: 'gpt-5',
  started_at: now(),
  api_key_id: 'key0000001',
  user_agent: 'codex/1.0',
  ...over,
});
const ended = (id: string) => ({ id, ended_at: now() });
const token = (interceptionId: string): AibridgeInput<'usage.token'> => ({
  id: randomUUID(),
  interception_id: interceptionId,
  provider_response_id: 'resp_1',
  input_tokens: 10,
  output_tokens: 5,
  cache_read_input_tokens: 2,
  cache_write_input_tokens: 0,
  created_at: now(),
});
const prompt = (interceptionId: string, text = 'hello'): AibridgeInput<'usage.prompt'> => ({
  id: randomUUID(),
  interception_id: interceptionId,
  provider_response_id: 'resp_1',
  prompt: text,
  created_at: now(),
});
const tool = (interceptionId: string): AibridgeInput<'usage.tool'> => ({
  id: randomUUID(),
  interception_id: interceptionId,
  provider_response_id: 'resp_1',
  provider_tool_call_id: 'call_1',
  tool: 'read_file',
  input: '{"path":"README.md"}',
  injected: false,
  created_at: now(),
});
const thought = (interceptionId: string): AibridgeInput<'usage.thought'> => ({
  id: randomUUID(),
  interception_id: interceptionId,
  content: 'Let me look at the file first.',
  metadata: { source: 'reasoning_summary' },
  created_at: now(),
});

async function stored(seq: number, stream = STREAM): Promise<StoredMsg> {
  const m = await jsm.streams.getMessage(stream, { seq });
  if (!m) throw new Error(`no message ${seq} in ${stream}`);
  return m;
}

async function messageCount(stream = STREAM): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** Tracks whether a promise has settled, without awaiting it. */
function watch<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { p, settled: () => done };
}

describe('AI Bridge subjects', () => {
  it('map each kind and batch to its subject and back, and nothing else', () => {
    expect(aibridgeKindOfSubject(cat, `${prefix}.aibridge.usage.token`)).toBe('usage.token');
    expect(aibridgeKindOfSubject(cat, `${prefix}.aibridge.batch`)).toBe('batch');
    expect(aibridgeKindOfSubject(cat, `${prefix}.aibridge.usage`)).toBeUndefined();
    expect(aibridgeKindOfSubject(cat, `other.aibridge.usage.token`)).toBeUndefined();
    expect(aibridgeKindOfSubject(cat, `${prefix}.telemetry.first_user`)).toBeUndefined();
  });
});

describe('unbatched publishing', () => {
  it('sends each kind alone on its subject with Nats-Msg-Id <kind>:<id> and the normalized record', async () => {
    const c = client({ batching: false });
    const s = started({ provider: 'copilot', provider_name: 'copilot-business' });
    const records: [AibridgeKind, { id: string }][] = [
      ['interception.started', s],
      ['usage.prompt', prompt(s.id)],
      ['usage.token', token(s.id)],
      ['usage.tool', tool(s.id)],
      ['usage.thought', thought(s.id)],
      ['interception.ended', ended(s.id)],
    ];
    const acks = await Promise.all([
      c.recordInterceptionStarted(s),
      c.recordPromptUsage(records[1][1] as AibridgeInput<'usage.prompt'>),
      c.recordTokenUsage(records[2][1] as AibridgeInput<'usage.token'>),
      c.recordToolUsage(records[3][1] as AibridgeInput<'usage.tool'>),
      c.recordModelThought(records[4][1] as AibridgeInput<'usage.thought'>),
      c.recordInterceptionEnded(records[5][1] as AibridgeInput<'interception.ended'>),
    ]);
    for (const [i, [kind, rec]] of records.entries()) {
      const ack = acks[i];
      expect(ack).toMatchObject({ stream: STREAM, duplicate: false, msgId: `${kind}:${rec.id}` });
      const m = await stored(ack.seq);
      expect(m.subject).toBe(`${prefix}.aibridge.${kind}`);
      expect(aibridgeKindOfSubject(cat, m.subject)).toBe(kind);
      expect(m.header.get('Nats-Msg-Id')).toBe(`${kind}:${rec.id}`);
      const body = m.json<Record<string, unknown>>();
      expect(body).toMatchObject({ v: 1, ...rec });
      expect(body).not.toHaveProperty('kind');
      expect(parseAibridgeMessage(kind, m.data)).toEqual({
        ok: true,
        records: [{ kind, ...body, v: undefined }],
      });
    }
    // Defaults are applied before publishing, so the stored record is the normalized one.
    expect((await stored(acks[0].seq)).json()).toMatchObject({ client: 'Unknown', metadata: {} });
  });

  it('a repeat inside the duplicate window is dropped by the stream and resolves as a duplicate', async () => {
    const c = client({ batching: false });
    const rec = token(randomUUID());
    const before = await messageCount();
    const first = await c.recordTokenUsage(rec);
    const second = await c.recordTokenUsage({ ...rec });
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
    expect((await messageCount()) - before).toBe(1);
  });
});

describe('batched publishing', () => {
  it('sends the gathered records as one batch with Nats-Msg-Id batch:<id>, records in order with their kind', async () => {
    const timer = new ManualTimer();
    const c = client({ timer });
    const s = started();
    const p = prompt(s.id);
    const t = token(s.id);
    const promises = [c.recordInterceptionStarted(s), c.recordPromptUsage(p), c.recordTokenUsage(t)];
    await c.flush();
    const acks = await Promise.all(promises);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(1);
    expect(acks[0].msgId).toMatch(/^batch:[0-9a-f-]{36}$/);
    const m = await stored(acks[0].seq);
    expect(m.subject).toBe(`${prefix}.aibridge.batch`);
    expect(m.header.get('Nats-Msg-Id')).toBe(acks[0].msgId);
    const parsed = parseAibridgeMessage('batch', m.data);
    expect(parsed.ok).toBe(true);
    expect(`batch:${parsed.batch_id}`).toBe(acks[0].msgId);
    expect(parsed.records).toEqual([
      { kind: 'interception.started', ...s, provider_name: 'openai', client: 'Unknown', metadata: {} },
      { kind: 'usage.prompt', ...p, metadata: {} },
      { kind: 'usage.token', ...t, metadata: {} },
    ]);
  });

  it('sends a lone record as a single message on its own subject', async () => {
    const c = client({ timer: new ManualTimer() });
    const e = ended(randomUUID());
    const pending = c.recordInterceptionEnded(e);
    await c.flush();
    const ack = await pending;
    expect(ack.msgId).toBe(`interception.ended:${e.id}`);
    expect((await stored(ack.seq)).subject).toBe(`${prefix}.aibridge.interception.ended`);
  });

  it('sends a record recorded twice while gathered once, and resolves both callers', async () => {
    const c = client({ timer: new ManualTimer() });
    const rec = prompt(randomUUID());
    const other = prompt(randomUUID());
    const all = Promise.all([
      c.recordPromptUsage(rec),
      c.recordPromptUsage({ ...rec }),
      c.recordPromptUsage(other),
    ]);
    await c.flush();
    const [a, b] = await all;
    expect(b).toEqual(a);
    const parsed = parseAibridgeMessage('batch', (await stored(a.seq)).data);
    expect(parsed.records.map((r) => r.id)).toEqual([rec.id, other.id]);
  });

  it('sends a batch as soon as it holds 200 records, without waiting for the timer', async () => {
    const timer = new ManualTimer();
    const c = client({ timer });
    const iid = randomUUID();
    const before = await messageCount();
    const first = Array.from({ length: 200 }, () => c.recordTokenUsage(token(iid)));
    const acks = await Promise.all(first);
    expect(new Set(acks.map((a) => a.seq)).size).toBe(1);
    expect(parseAibridgeMessage('batch', (await stored(acks[0].seq)).data).records).toHaveLength(200);
    expect((await messageCount()) - before).toBe(1);
    // The timer armed by the first record was disarmed by the size flush.
    expect(timer.scheduled.every((t) => t.cleared)).toBe(true);

    const more = Array.from({ length: 250 }, () => watch(c.recordTokenUsage(token(iid))));
    const full = await Promise.all(more.slice(0, 200).map((w) => w.p));
    expect(new Set(full.map((a) => a.seq)).size).toBe(1);
    // The last 50 wait for the timer (or a flush).
    expect(more.slice(200).some((w) => w.settled())).toBe(false);
    timer.fire();
    const rest = await Promise.all(more.slice(200).map((w) => w.p));
    expect(new Set(rest.map((a) => a.seq)).size).toBe(1);
    expect(parseAibridgeMessage('batch', (await stored(rest[0].seq)).data).records).toHaveLength(50);
    expect((await messageCount()) - before).toBe(3);
  });

  it('honours a smaller maxBatchRecords', async () => {
    const c = client({ maxBatchRecords: 2, timer: new ManualTimer() });
    const acks = await Promise.all([1, 2, 3, 4].map(() => c.recordPromptUsage(prompt(randomUUID()))));
    expect(acks[0].seq).toBe(acks[1].seq);
    expect(acks[2].seq).toBe(acks[3].seq);
    expect(acks[2].seq).not.toBe(acks[0].seq);
  });

  it('sends the gathered records when the flush interval (10 ms by default) elapses', async () => {
    const timer = new ManualTimer();
    const c = client({ timer });
    const before = await messageCount();
    const ws = [1, 2, 3].map(() => watch(c.recordPromptUsage(prompt(randomUUID()))));
    expect(timer.scheduled.map((t) => t.ms)).toEqual([10]);
    await nc.flush();
    expect(await messageCount()).toBe(before);
    expect(ws.some((w) => w.settled())).toBe(false);
    timer.fire();
    const acks = await Promise.all(ws.map((w) => w.p));
    expect(new Set(acks.map((a) => a.seq)).size).toBe(1);
    expect((await messageCount()) - before).toBe(1);
  });

  it('flushes on its own with the real timer', async () => {
    const c = client({ flushIntervalMs: 10 });
    const acks = await Promise.all([
      c.recordPromptUsage(prompt(randomUUID())),
      c.recordPromptUsage(prompt(randomUUID())),
    ]);
    expect(acks[0].seq).toBe(acks[1].seq);
    expect(acks[0].msgId).toMatch(/^batch:/);
  });

  it('sends a batch early rather than let it outgrow a message', async () => {
    const maxMessageBytes = 3000;
    const c = client({ maxMessageBytes, timer: new ManualTimer() });
    const all = Promise.all(
      Array.from({ length: 7 }, () => c.recordPromptUsage(prompt(randomUUID(), 'p'.repeat(900)))),
    );
    await c.flush();
    const acks = await all;
    const seqs = [...new Set(acks.map((a) => a.seq))];
    expect(seqs.length).toBeGreaterThanOrEqual(3);
    let total = 0;
    for (const seq of seqs) {
      const m = await stored(seq);
      expect(m.data.length).toBeLessThanOrEqual(maxMessageBytes);
      total += parseAibridgeMessage(m.subject.endsWith('.batch') ? 'batch' : 'usage.prompt', m.data).records
        .length;
    }
    expect(total).toBe(7);
  });
});

describe('invalid records', () => {
  it.each([
    ['unbatched', { batching: false }],
    ['batched', { timer: new ManualTimer() }],
  ])('are refused at once with every problem and nothing is published (%s)', async (_mode, opts) => {
    const c = client(opts);
    const before = await messageCount();
    const good = c.recordPromptUsage(prompt(randomUUID()));
    const bad = c.recordTokenUsage({ ...token('not-a-uuid'), input_tokens: -3 });
    await expect(bad).rejects.toThrow(AibridgeValidationError);
    const err = (await bad.catch((e: unknown) => e)) as AibridgeValidationError;
    expect(err.kind).toBe('usage.token');
    expect(err.problems.map((p) => p.field)).toEqual(['interception_id', 'input_tokens']);
    expect(err.message).toMatch(/invalid aibridge usage.token record: interception_id: must be a uuid/);
    await c.flush();
    const ack = await good;
    expect((await messageCount()) - before).toBe(1);
    expect(parseAibridgeMessage('usage.prompt', (await stored(ack.seq)).data).ok).toBe(true);
  });

  it('are refused when they cannot fit in a message', async () => {
    const c = client({ batching: false, maxMessageBytes: 2000 });
    const before = await messageCount();
    await expect(c.recordPromptUsage(prompt(randomUUID(), 'x'.repeat(5000)))).rejects.toThrow(
      /\(record\): is \d+ bytes as JSON, more than a message may hold \(2000 bytes\)/,
    );
    expect(await messageCount()).toBe(before);
  });

  it('rejects an unknown kind through record()', async () => {
    const c = client({ batching: false });
    await expect(c.record('usage.other' as AibridgeKind, {} as never)).rejects.toThrow(
      AibridgeValidationError,
    );
  });

  it('refuses options outside their limits', () => {
    expect(() => client({ maxBatchRecords: 501 })).toThrow(/maxBatchRecords must be an integer in 1..500/);
    expect(() => client({ maxBatchRecords: 0 })).toThrow(RangeError);
    expect(() => client({ flushIntervalMs: -1 })).toThrow(RangeError);
    expect(() => client({ retry: { maxAttempts: 0 } })).toThrow(RangeError);
  });
});

describe('retries', () => {
  it('retries while the stream is not there yet and succeeds once it is provisioned', async () => {
    const p = randomPrefix();
    prefixes.push(p);
    const other = new SubjectCatalog(p);
    const retries: AibridgeRetryEvent[] = [];
    const c = client(
      {
        batching: false,
        retry: { maxAttempts: 10, initialDelayMs: 20, maxDelayMs: 50 },
        onRetry: (e) => {
          retries.push(e);
          // The stream appears while the client waits, as when a gateway starts before the recorder.
          if (retries.length === 1) void ensureStream(jsm, other, STREAMS.AIBRIDGE);
        },
      },
      nc,
      p,
    );
    const rec = started();
    const ack = await c.recordInterceptionStarted(rec);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ attempt: 1, msgId: `interception.started:${rec.id}`, records: 1 });
    expect((retries[0].error as Error).message).toMatch(/jetstream is not enabled/);
    expect(ack).toMatchObject({ stream: other.streamName('AIBRIDGE'), duplicate: false });
  });

  it('retries an ack that timed out with the same message id, so the copy that did land is not stored twice', async () => {
    const proxy = await TcpProxy.start();
    try {
      const viaProxy = await connect({ servers: proxy.url, timeout: 3000 });
      conns.push(viaProxy);
      const retries: AibridgeRetryEvent[] = [];
      const c = client(
        {
          batching: false,
          publishTimeoutMs: 300,
          retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 50 },
          onRetry: (e) => {
            retries.push(e);
            // The network recovers: the first attempt's message, held so far, reaches the server.
            proxy.release();
          },
        },
        viaProxy,
      );
      await viaProxy.flush();
      const before = await messageCount();
      proxy.stall();
      const rec = token(randomUUID());
      const ack = await c.recordTokenUsage(rec);
      expect(retries).toHaveLength(1);
      expect(retries[0].error).toMatchObject({ name: 'TimeoutError' });
      // The retry reached the server after the first copy: the stream recognised it.
      expect(ack.duplicate).toBe(true);
      expect((await messageCount()) - before).toBe(1);
      expect((await stored(ack.seq)).header.get('Nats-Msg-Id')).toBe(`usage.token:${rec.id}`);
      await viaProxy.close();
    } finally {
      await proxy.close();
    }
  });

  it('rejects every record of a message once the retries are exhausted', async () => {
    const p = randomPrefix(); // no stream is ever provisioned for it
    const retries: AibridgeRetryEvent[] = [];
    const c = client(
      {
        timer: new ManualTimer(),
        retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
        onRetry: (e) => void retries.push(e),
      },
      nc,
      p,
    );
    const a = c.recordPromptUsage(prompt(randomUUID()));
    const b = c.recordTokenUsage(token(randomUUID()));
    await c.flush();
    const [ea, eb] = await Promise.all([a.catch((e: unknown) => e), b.catch((e: unknown) => e)]);
    expect(ea).toBeInstanceOf(AibridgePublishError);
    expect(eb).toBe(ea);
    expect(ea).toMatchObject({ attempts: 3, subject: `${p}.aibridge.batch` });
    expect((ea as Error).message).toMatch(
      /^publishing batch:[0-9a-f-]{36} on \S+ failed after 3 attempts: jetstream is not enabled/,
    );
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(new Set(retries.map((r) => r.msgId)).size).toBe(1);
  });

  it('does not retry a permanent failure (the subject belongs to another stream)', async () => {
    const p = randomPrefix();
    prefixes.push(p);
    const foreign = `${p.toUpperCase()}_FOREIGN`;
    await jsm.streams.add({ name: foreign, subjects: [`${p}.aibridge.>`] });
    const retries: AibridgeRetryEvent[] = [];
    const c = client({ batching: false, onRetry: (e) => void retries.push(e) }, nc, p);
    const err = await c.recordPromptUsage(prompt(randomUUID())).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AibridgePublishError', attempts: 1 });
    expect((err as Error).message).toMatch(/expected stream does not match/);
    expect(retries).toHaveLength(0);
    expect(await messageCount(foreign)).toBe(0);
  });
});

describe('flush and close', () => {
  it('close() sends what is gathered, waits for it, and refuses later records', async () => {
    const c = client({ timer: new ManualTimer() });
    const ws = [1, 2].map(() => watch(c.recordPromptUsage(prompt(randomUUID()))));
    await c.close();
    expect(ws.every((w) => w.settled())).toBe(true);
    await Promise.all(ws.map((w) => w.p));
    await expect(c.recordPromptUsage(prompt(randomUUID()))).rejects.toThrow(AibridgeClientClosedError);
    await c.close();
  });

  it('flush() waits for messages already in flight, retries included', async () => {
    const p = randomPrefix();
    prefixes.push(p);
    const other = new SubjectCatalog(p);
    const c = client(
      {
        batching: false,
        retry: { maxAttempts: 10, initialDelayMs: 20, maxDelayMs: 20 },
        onRetry: (e) => void (e.attempt === 2 && ensureStream(jsm, other, STREAMS.AIBRIDGE)),
      },
      nc,
      p,
    );
    const w = watch(c.recordPromptUsage(prompt(randomUUID())));
    await c.flush();
    expect(w.settled()).toBe(true);
    await expect(w.p).resolves.toMatchObject({ duplicate: false });
  });
});

describe('inside a Nest app', () => {
  const db = useTestDatabase();
  const appPrefix = randomPrefix();
  prefixes.push(appPrefix);
  let app: TestingModule | undefined;

  afterAll(async () => {
    await app?.close();
  });

  it('is provided on the bus connection and flushes what it gathered when the app shuts down', async () => {
    app = await busTestModule({
      dbUrl: db.url,
      prefix: appPrefix,
      streams: ['AIBRIDGE'],
      providers: [aibridgeRecorderProvider({ flushIntervalMs: 60_000 })],
    }).compile();
    await app.init();
    const c = app.get(AibridgeRecorderClient);
    // With a one-minute interval the record is still gathered when the app shuts down.
    const rec = started();
    const w = watch(c.recordInterceptionStarted(rec));
    expect(w.settled()).toBe(false);
    await app.close();
    app = undefined;
    expect(w.settled()).toBe(true);
    const ack: AibridgeAck = await w.p;
    const appStream = new SubjectCatalog(appPrefix).streamName('AIBRIDGE');
    expect(ack).toMatchObject({ stream: appStream, msgId: `interception.started:${rec.id}` });
    const m = await jsm.streams.getMessage(appStream, { seq: ack.seq });
    expect(m?.subject).toBe(`${appPrefix}.aibridge.interception.started`);
  });
});
