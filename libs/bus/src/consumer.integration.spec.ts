// The durable consume loop against the real JetStream server: ack only after the handler
// resolved, nak with backoff on failure, dead-letter after maxDeliver failures, on undecodable
// payloads and on PermanentMessageError, trace context across publishDurable, and graceful
// stop that finishes (and acks) the message in hand, and a consume loop that restarts (with
// readiness red meanwhile) when its pull subscription breaks.
import { Inject, Injectable, Type } from '@nestjs/common';
import { TestingModule } from '@nestjs/testing';
import { ConsumerInfo, jetstreamManager, JetStreamManager } from '@nats-io/jetstream';
import { connect, Empty, headers, NatsConnection } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import type { DeadLetter } from '@agentmesh/contracts';
import {
  CheckResult,
  initTracing,
  ReadinessService,
  shutdownTracing,
  tracer,
} from '@agentmesh/observability';
import { deleteStreamsForPrefix, randomPrefix, TEST_NATS_URL, useTestDatabase } from '@agentmesh/testing';
import { busTestModule } from '../test/bus-test-module';
import { BusService } from './bus.service';
import { BatchItem, DeliveryMeta, PermanentMessageError } from './consumer';
import { HandlerTarget, OnJetStreamMessage } from './handlers';
import { ConsumerDef, ensureConsumer } from './streams';
import { SubjectCatalog, SubjectSpec } from './subjects';

interface Probe {
  v: 1;
  id: string;
  /** Fail while deliveryCount <= fail_until. */
  fail_until?: number;
  permanent?: boolean;
  /** Wait for the test to release this id before resolving. */
  block?: boolean;
  /** Filler, to give a message a size. */
  pad?: string;
}

const spec = (name: string): SubjectSpec<Probe, [id: string]> => ({
  key: `test.${name}`,
  transport: 'jetstream',
  stream: 'TELEMETRY',
  template: `telemetry.${name}.{id}`,
});
const AckSubject = spec('ack');
const RetrySubject = spec('retry');
const ExhaustSubject = spec('exhaust');
const PermSubject = spec('perm');
const GracefulSubject = spec('graceful');
const HandbackSubject = spec('handback');
const RestartSubject = spec('restart');

const def = (durable: string, over: Partial<ConsumerDef> = {}): ConsumerDef => ({
  stream: 'TELEMETRY',
  durable,
  filter: `telemetry.${durable}.*`,
  maxDeliver: 5,
  ackWaitMs: 2000,
  backoffMs: [50, 100],
  ...over,
});
// A long ack wait where a test holds a message on purpose, so the server never redelivers it.
const ackDef = def('ack', { ackWaitMs: 20_000 });
const retryDef = def('retry', { backoffMs: [250, 500] });
const exhaustDef = def('exhaust', { maxDeliver: 3 });
const permDef = def('perm');
const gracefulDef = def('graceful', { ackWaitMs: 20_000 });
const handbackDef = def('handback', { ackWaitMs: 20_000 });
// Short ack wait: a message the server pushed to the broken subscription comes back quickly.
const restartDef = def('restart');

interface Call {
  payload: Probe;
  meta: DeliveryMeta;
  at: number;
  traceId?: string;
}

const CONTROL = Symbol('control');

/** What the handlers saw, per consumer, and the gates tests release. */
class Control {
  readonly calls = new Map<string, Call[]>();
  private readonly gates = new Map<string, { promise: Promise<void>; release: () => void }>();

  gate(id: string): { promise: Promise<void>; release: () => void } {
    let g = this.gates.get(id);
    if (!g) {
      let release: () => void = () => undefined;
      const promise = new Promise<void>((r) => (release = r));
      g = { promise, release };
      this.gates.set(id, g);
    }
    return g;
  }

  releaseAll(): void {
    for (const g of this.gates.values()) g.release();
  }

  of(durable: string, id?: string): Call[] {
    const all = this.calls.get(durable) ?? [];
    return id === undefined ? all : all.filter((c) => c.payload.id === id);
  }

  async run(durable: string, payload: unknown, meta: DeliveryMeta): Promise<void> {
    const p = payload as Probe;
    const list = this.calls.get(durable) ?? [];
    this.calls.set(durable, list);
    list.push({ payload: p, meta, at: Date.now(), traceId: trace.getActiveSpan()?.spanContext().traceId });
    if (p.block) await this.gate(p.id).promise;
    if (p.permanent) throw new PermanentMessageError(`probe ${p.id} can never succeed`);
    if (p.fail_until !== undefined && meta.deliveryCount <= p.fail_until)
      throw new Error(`probe ${p.id} failed on delivery ${meta.deliveryCount}`);
  }
}

@Injectable()
class ProbeHandlers {
  constructor(@Inject(CONTROL) private readonly ctl: Control) {}

  @OnJetStreamMessage(ackDef)
  onAck(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('ack', payload, meta);
  }

  @OnJetStreamMessage(retryDef)
  onRetry(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('retry', payload, meta);
  }

  @OnJetStreamMessage(exhaustDef)
  onExhaust(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('exhaust', payload, meta);
  }

  @OnJetStreamMessage(permDef)
  onPerm(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('perm', payload, meta);
  }
}

@Injectable()
class GracefulHandler {
  constructor(@Inject(CONTROL) private readonly ctl: Control) {}

  @OnJetStreamMessage(gracefulDef)
  onGraceful(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('graceful', payload, meta);
  }
}

@Injectable()
class HandbackHandler {
  constructor(@Inject(CONTROL) private readonly ctl: Control) {}

  @OnJetStreamMessage(handbackDef)
  onHandback(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('handback', payload, meta);
  }
}

@Injectable()
class RestartHandler {
  constructor(@Inject(CONTROL) private readonly ctl: Control) {}

  @OnJetStreamMessage(restartDef)
  onRestart(payload: unknown, meta: DeliveryMeta): Promise<void> {
    return this.ctl.run('restart', payload, meta);
  }
}

const db = useTestDatabase();
const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
const STREAM = cat.streamName('TELEMETRY');
const DLQ = cat.streamName('DEAD_LETTERS');
let admin: NatsConnection;
let jsm: JetStreamManager;

async function startApp(
  providers: Type<unknown>[],
  consumers: ConsumerDef[],
  ctl: Control,
): Promise<TestingModule> {
  const app = await busTestModule({
    dbUrl: db.url,
    prefix,
    subscriptions: consumers.map((consumer): HandlerTarget => ({ kind: 'consumer', consumer })),
    streams: ['TELEMETRY'],
    outbox: { enabled: false },
    providers: [{ provide: CONTROL, useValue: ctl }, ...providers],
  }).compile();
  await app.init();
  return app;
}

async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function consumerInfo(durable: string): Promise<ConsumerInfo> {
  return jsm.consumers.info(STREAM, durable);
}

/** Waits until the consumer has nothing pending or unacked (everything delivered is acked). */
async function waitSettled(durable: string): Promise<ConsumerInfo> {
  let info: ConsumerInfo | undefined;
  await waitUntil(`${durable} has no pending or unacked messages`, async () => {
    info = await consumerInfo(durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
  return info!;
}

async function deadLetters(): Promise<{ subject: string; letter: DeadLetter }[]> {
  const out: { subject: string; letter: DeadLetter }[] = [];
  const last = (await jsm.streams.info(DLQ)).state.last_seq;
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(DLQ, { seq });
    if (m) out.push({ subject: m.subject, letter: m.json<DeadLetter>() });
  }
  return out;
}

async function waitForDeadLetter(
  durable: string,
  streamSeq: number,
): Promise<{ subject: string; letter: DeadLetter }> {
  let found: { subject: string; letter: DeadLetter } | undefined;
  await waitUntil(`a dead letter for ${durable} seq ${streamSeq}`, async () => {
    found = (await deadLetters()).find(
      (d) => d.letter.consumer === durable && d.letter.stream_seq === streamSeq,
    );
    return found !== undefined;
  });
  return found!;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

beforeAll(async () => {
  initTracing('bus-test');
  admin = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
  jsm = await jetstreamManager(admin);
});

afterAll(async () => {
  await admin?.close();
  await shutdownTracing();
  await deleteStreamsForPrefix(prefix);
});

describe('consume loop', () => {
  const ctl = new Control();
  let app: TestingModule;
  let bus: BusService;

  beforeAll(async () => {
    app = await startApp([ProbeHandlers], [ackDef, retryDef, exhaustDef, permDef], ctl);
    bus = app.get(BusService);
  });

  afterAll(async () => {
    ctl.releaseAll();
    await app?.close();
  });

  it('hands the handler the payload, subject, stream sequence and delivery count', async () => {
    const ack = await bus.publishDurable(AckSubject, { v: 1, id: 'meta' }, 'ack:meta', 'meta');
    await waitUntil('the handler ran', () => ctl.of('ack', 'meta').length === 1);
    const [call] = ctl.of('ack', 'meta');
    expect(call.payload).toEqual({ v: 1, id: 'meta' });
    expect(call.meta.subject).toBe(`${prefix}.telemetry.ack.meta`);
    expect(call.meta.streamSeq).toBe(ack.seq);
    expect(call.meta.deliveryCount).toBe(1);
    expect(call.meta.headers['nats-msg-id']).toBe('ack:meta');
    await waitSettled('ack');
  });

  it('acks only after the handler resolves (the message stays unacked while the handler runs)', async () => {
    const ack = await bus.publishDurable(
      AckSubject,
      { v: 1, id: 'blocked', block: true },
      'ack:blocked',
      'blocked',
    );
    await waitUntil('the handler started', () => ctl.of('ack', 'blocked').length === 1);
    const during = await consumerInfo('ack');
    expect(during.num_ack_pending).toBe(1);
    expect(during.ack_floor.stream_seq).toBeLessThan(ack.seq);

    ctl.gate('blocked').release();
    const after = await waitSettled('ack');
    expect(after.ack_floor.stream_seq).toBeGreaterThanOrEqual(ack.seq);
    expect(after.num_redelivered).toBe(0);
    expect(ctl.of('ack', 'blocked')).toHaveLength(1);
  });

  it('continues the trace of the durable publisher in the handler', async () => {
    let traceId = '';
    await tracer().startActiveSpan('publisher', async (span) => {
      traceId = span.spanContext().traceId;
      await bus.publishDurable(AckSubject, { v: 1, id: 'traced' }, 'ack:traced', 'traced');
      span.end();
    });
    await waitUntil('the handler ran', () => ctl.of('ack', 'traced').length === 1);
    const [call] = ctl.of('ack', 'traced');
    expect(call.meta.headers.traceparent).toContain(traceId);
    expect(call.traceId).toBe(traceId);
  });

  it('redelivers a message whose handler failed (deliveryCount 2) after the nak backoff, then acks it', async () => {
    const ack = await bus.publishDurable(
      RetrySubject,
      { v: 1, id: 'once', fail_until: 1 },
      'retry:once',
      'once',
    );
    await waitUntil('the second delivery', () => ctl.of('retry', 'once').length === 2);
    const calls = ctl.of('retry', 'once');
    expect(calls.map((c) => c.meta.deliveryCount)).toEqual([1, 2]);
    expect(calls.map((c) => c.meta.streamSeq)).toEqual([ack.seq, ack.seq]);
    // backoffMs[0] is 250: the server holds the redelivery at least that long (lower bound only).
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(200);
    const info = await waitSettled('retry');
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(ack.seq);
    expect(ctl.of('retry', 'once')).toHaveLength(2);
    expect((await deadLetters()).some((d) => d.letter.consumer === 'retry')).toBe(false);
  });

  it('dead-letters a message after maxDeliver failed deliveries, with the error, subject, seq and data, and acks it', async () => {
    const payload: Probe = { v: 1, id: 'always', fail_until: 99 };
    const ack = await bus.publishDurable(ExhaustSubject, payload, 'exhaust:always', 'always');
    const { subject, letter } = await waitForDeadLetter('exhaust', ack.seq);
    expect(subject).toBe(`${prefix}.dlq.TELEMETRY`);
    expect(letter).toEqual({
      v: 1,
      stream: STREAM,
      consumer: 'exhaust',
      subject: `${prefix}.telemetry.exhaust.always`,
      stream_seq: ack.seq,
      deliveries: 3,
      error: 'probe always failed on delivery 3',
      failed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data_b64: expect.any(String),
    });
    expect(JSON.parse(Buffer.from(letter.data_b64, 'base64').toString('utf8'))).toEqual(payload);
    const info = await waitSettled('exhaust');
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(ack.seq);
    // Acked: exactly maxDeliver handler runs, never a fourth.
    expect(ctl.of('exhaust', 'always').map((c) => c.meta.deliveryCount)).toEqual([1, 2, 3]);
  });

  it('dead-letters a payload that is not JSON on the first delivery without calling the handler', async () => {
    const before = ctl.of('perm').length;
    const raw = '{"v":1,"id":oops';
    const ack = await bus.publishRawDurable(
      `${prefix}.telemetry.perm.garbage`,
      new TextEncoder().encode(raw),
      'perm:garbage',
    );
    const { letter } = await waitForDeadLetter('perm', ack.seq);
    expect(letter.deliveries).toBe(1);
    expect(letter.error).toMatch(/not valid JSON/);
    expect(letter.subject).toBe(`${prefix}.telemetry.perm.garbage`);
    expect(letter.data_b64).toBe(b64(raw));
    await waitSettled('perm');
    expect(ctl.of('perm')).toHaveLength(before);
  });

  it('dead-letters at once when the handler throws PermanentMessageError', async () => {
    const ack = await bus.publishDurable(
      PermSubject,
      { v: 1, id: 'perm', permanent: true },
      'perm:perm',
      'perm',
    );
    const { letter } = await waitForDeadLetter('perm', ack.seq);
    expect(letter.deliveries).toBe(1);
    expect(letter.error).toBe('probe perm can never succeed');
    await waitSettled('perm');
    expect(ctl.of('perm', 'perm')).toHaveLength(1);
  });

  it('keeps handling later messages after dead-lettering one', async () => {
    await bus.publishDurable(PermSubject, { v: 1, id: 'later' }, 'perm:later', 'later');
    await waitUntil('the later message was handled', () => ctl.of('perm', 'later').length === 1);
    await waitSettled('perm');
  });
});

describe('graceful stop', () => {
  it('waits for the in-flight handler, acks its message, and the message is not redelivered to the next replica', async () => {
    const ctl = new Control();
    const app = await startApp([GracefulHandler], [gracefulDef], ctl);
    let closed = false;
    let closing: Promise<void> | undefined;
    try {
      const ack = await app
        .get(BusService)
        .publishDurable(
          GracefulSubject,
          { v: 1, id: 'inflight', block: true },
          'graceful:inflight',
          'inflight',
        );
      await waitUntil('the handler started', () => ctl.of('graceful', 'inflight').length === 1);

      closing = app.close().then(() => {
        closed = true;
      });
      // Shutdown must not complete (nor drop the message) while the handler still runs.
      await new Promise((r) => setTimeout(r, 300));
      expect(closed).toBe(false);
      expect((await consumerInfo('graceful')).num_ack_pending).toBe(1);

      ctl.gate('inflight').release();
      await closing;
      const info = await consumerInfo('graceful');
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_pending).toBe(0);
      expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(ack.seq);
      expect(info.num_redelivered).toBe(0);
    } finally {
      ctl.releaseAll();
      if (!closing) await app.close();
      else await closing;
    }

    // The next replica on the same durable gets only new messages.
    const next = new Control();
    const app2 = await startApp([GracefulHandler], [gracefulDef], next);
    try {
      await app2
        .get(BusService)
        .publishDurable(GracefulSubject, { v: 1, id: 'after' }, 'graceful:after', 'after');
      await waitUntil('the next message was handled', () => next.of('graceful', 'after').length === 1);
      await waitSettled('graceful');
      expect(next.of('graceful').map((c) => c.payload.id)).toEqual(['after']);
    } finally {
      await app2.close();
    }
  });
});

describe('graceful stop with messages pulled but not started', () => {
  it('finishes or hands back every message it pulled: none waits for the ack wait (20 s) before another replica can take it', async () => {
    const ctl = new Control();
    const app = await startApp([HandbackHandler], [handbackDef], ctl);
    let closing: Promise<void> | undefined;
    let queuedSeq = 0;
    try {
      const bus = app.get(BusService);
      await bus.publishDurable(HandbackSubject, { v: 1, id: 'busy', block: true }, 'handback:busy', 'busy');
      queuedSeq = (
        await bus.publishDurable(HandbackSubject, { v: 1, id: 'queued' }, 'handback:queued', 'queued')
      ).seq;
      await waitUntil('the first handler started', () => ctl.of('handback', 'busy').length === 1);
      // The consume loop pulls in batches: the second message is already delivered to this replica.
      await waitUntil(
        'both messages are delivered to the replica',
        async () => (await consumerInfo('handback')).num_ack_pending === 2,
      );
      closing = app.close();
      ctl.gate('busy').release();
      await closing;
    } finally {
      ctl.releaseAll();
      if (closing) await closing.catch(() => undefined);
      else await app.close();
    }
    if (ctl.of('handback', 'queued').length === 1) {
      // Finished before stopping: then it must be acked.
      expect((await waitSettled('handback')).ack_floor.stream_seq).toBeGreaterThanOrEqual(queuedSeq);
      return;
    }
    // Handed back: the next replica gets it long before the 20 s ack wait would release it.
    const next = new Control();
    const app2 = await startApp([HandbackHandler], [handbackDef], next);
    try {
      await waitUntil(
        'the next replica handled the handed-back message',
        () => next.of('handback', 'queued').length === 1,
        5000,
      );
      expect(next.of('handback', 'queued')[0].meta.streamSeq).toBe(queuedSeq);
    } finally {
      await app2.close();
    }
  });
});

describe('consume loop restart', () => {
  // A terminal status on the pull inbox (the server's "400 Bad Request" for a rejected pull)
  // ends the nats.js message iterator with an error: the test answers the runner's pull with it.
  it('notices a deleted consumer (readiness goes red) and resumes once it is provisioned again', async () => {
    const ctl = new Control();
    const app = await startApp([RestartHandler], [restartDef], ctl);
    try {
      const readiness = app.get(ReadinessService);
      const consumersCheck = async () => (await readiness.evaluate()).checks.jetstream_consumers;
      await waitUntil('the loop is running', async () => (await consumersCheck()).ok);
      await jsm.consumers.delete(STREAM, 'restart');
      await waitUntil(
        'readiness reports the missing consumer',
        async () => !(await consumersCheck()).ok,
        20_000,
      );
      await ensureConsumer(jsm, cat, restartDef);
      await waitUntil('readiness is ok again', async () => (await consumersCheck()).ok, 20_000);
      const ack = await app
        .get(BusService)
        .publishDurable(RestartSubject, { v: 1, id: 'recreated' }, 'restart:recreated', 'recreated');
      await waitUntil(
        'the message reached the handler',
        () => ctl.of('restart', 'recreated').length > 0,
        20_000,
      );
      expect(ctl.of('restart', 'recreated')[0].meta.streamSeq).toBe(ack.seq);
    } finally {
      ctl.releaseAll();
      await app.close();
    }
  }, 60_000);

  it('reports the failure on the jetstream_consumers readiness check, restarts the loop on a new pull, and handles new messages', async () => {
    // A plain subscriber on the API subject sees the runner's pull requests and their reply inbox.
    const pulls: string[] = [];
    const watcher = admin.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${STREAM}.restart`, {
      callback: (_err, m) => {
        if (m.reply) pulls.push(m.reply);
      },
    });
    await admin.flush();
    const ctl = new Control();
    const app = await startApp([RestartHandler], [restartDef], ctl);
    try {
      const readiness = app.get(ReadinessService);
      const consumersCheck = async () => (await readiness.evaluate()).checks.jetstream_consumers;
      await waitUntil('the consume loop pulled', () => pulls.length > 0);
      expect(await consumersCheck()).toEqual(expect.objectContaining({ ok: true }));
      const brokenInbox = pulls[0];

      admin.publish(brokenInbox, Empty, { headers: headers(400, 'Bad Request') });
      let failed: CheckResult | undefined;
      await waitUntil(
        'readiness reports the failing consumer',
        async () => {
          const check = await consumersCheck();
          if (!check.ok) failed = check;
          return !check.ok;
        },
        20_000,
      );
      expect(failed).toEqual(expect.objectContaining({ ok: false, error: 'bad request' }));

      await waitUntil(
        'the loop pulled again on a new inbox',
        () => pulls.some((p) => p !== brokenInbox),
        20_000,
      );
      await waitUntil('readiness is ok again', async () => (await consumersCheck()).ok, 20_000);
      const ack = await app
        .get(BusService)
        .publishDurable(RestartSubject, { v: 1, id: 'after' }, 'restart:after', 'after');
      await waitUntil(
        'the restarted loop handled the message',
        () => ctl.of('restart', 'after').length > 0,
        20_000,
      );
      expect(ctl.of('restart', 'after')[0].meta.streamSeq).toBe(ack.seq);
      await waitSettled('restart');
      expect((await readiness.evaluate()).checks.jetstream_consumers.ok).toBe(true);
    } finally {
      watcher.unsubscribe();
      ctl.releaseAll();
      await app.close();
    }
  }, 100_000);
});

describe('batch consumer', () => {
  const BatchSubject = spec('batch');
  const batchDef = def('batch', {
    maxDeliver: 3,
    backoffMs: [50],
    batch: { maxMessages: 10, maxWaitMs: 50 },
  });
  const sizes: number[] = [];
  const handled = new Map<string, number[]>();

  @Injectable()
  class BatchHandlers {
    @OnJetStreamMessage(batchDef)
    async onBatch(items: BatchItem[]): Promise<(Error | undefined)[]> {
      sizes.push(items.length);
      const probes = items.map((i) => i.payload as Probe);
      // One unprocessable member fails the whole batch (as a database error would).
      const failing = items.find(
        (i) =>
          (i.payload as Probe).fail_until !== undefined &&
          i.meta.deliveryCount <= (i.payload as Probe).fail_until!,
      );
      if (failing) throw new Error(`probe ${(failing.payload as Probe).id} broke the batch`);
      return probes.map((p, i) => {
        if (p.permanent) return new Error(`probe ${p.id} is invalid`);
        handled.set(p.id, [...(handled.get(p.id) ?? []), items[i].meta.deliveryCount]);
        return undefined;
      });
    }
  }

  let app: TestingModule;
  let bus: BusService;
  const publish = (id: string, extra: Partial<Probe> = {}) =>
    bus.publishDurable(BatchSubject, { v: 1, id, ...extra }, `batch:${id}`, id);

  beforeAll(async () => {
    app = await startApp([BatchHandlers], [batchDef], new Control());
    bus = app.get(BusService);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(() => {
    sizes.length = 0;
  });

  it('hands the handler up to maxMessages at once and acks every message once', async () => {
    const ids = Array.from({ length: 25 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id) => publish(id)));
    await waitUntil('all handled', () => ids.every((id) => handled.has(id)));
    await waitSettled('batch');
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(25);
    expect(Math.max(...sizes)).toBe(10);
    expect(ids.map((id) => handled.get(id))).toEqual(ids.map(() => [1]));
  });

  it('flushes a partial batch after maxWaitMs', async () => {
    const started = Date.now();
    await publish('alone');
    await waitUntil('handled', () => handled.has('alone'));
    expect(sizes).toEqual([1]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    await waitSettled('batch');
  });

  it('dead-letters the items the handler reports as failed and acks the rest', async () => {
    const [bad] = await Promise.all([
      publish('bad', { permanent: true }),
      publish('good-1'),
      publish('good-2'),
    ]);
    const { letter } = await waitForDeadLetter('batch', bad.seq);
    expect(letter.deliveries).toBe(1);
    expect(letter.error).toBe('probe bad is invalid');
    await waitSettled('batch');
    expect([handled.get('good-1'), handled.get('good-2')]).toEqual([[1], [1]]);
    expect(handled.has('bad')).toBe(false);
  });

  it('a failed batch is retried message by message: the others succeed, the poison one is dead-lettered', async () => {
    const [poison] = await Promise.all([
      publish('poison', { fail_until: 99 }),
      publish('fine-1'),
      publish('fine-2'),
    ]);
    const { letter } = await waitForDeadLetter('batch', poison.seq);
    expect(letter.error).toBe('probe poison broke the batch');
    expect(letter.deliveries).toBe(3);
    await waitSettled('batch');
    expect([handled.get('fine-1'), handled.get('fine-2')]).toEqual([[1], [1]]);
  });
});

describe('batch consumer under a slow handler', () => {
  const SlowSubject = spec('slowbatch');
  const slowDef = def('slowbatch', { batch: { maxMessages: 10, maxWaitMs: 20 } });
  const sizes: number[] = [];
  let active = 0;
  let maxActive = 0;

  @Injectable()
  class SlowHandlers {
    @OnJetStreamMessage(slowDef)
    async onBatch(items: BatchItem[]): Promise<(Error | undefined)[]> {
      active++;
      maxActive = Math.max(maxActive, active);
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 200));
      active--;
      return items.map(() => undefined);
    }
  }

  let app: TestingModule;
  beforeAll(async () => {
    app = await startApp([SlowHandlers], [slowDef], new Control());
  });
  afterAll(async () => {
    await app?.close();
  });

  it('gathers messages while a batch runs instead of queueing a small batch every maxWaitMs', async () => {
    const bus = app.get(BusService);
    for (let i = 0; i < 30; i++) {
      await bus.publishDurable(SlowSubject, { v: 1, id: `slow-${i}` }, `slowbatch:${i}`, `slow-${i}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitUntil('all handled', () => sizes.reduce((a, b) => a + b, 0) === 30);
    await waitSettled('slowbatch');
    expect(maxActive).toBe(1);
    // ~300 ms of arrivals under 200 ms batches: a handful of batches, not one per 20 ms.
    expect(sizes.length).toBeLessThanOrEqual(6);
    expect(Math.max(...sizes)).toBeGreaterThan(5);
  });
});

describe('batch consumer with a byte budget', () => {
  const BytesSubject = spec('bytesbatch');
  const CAP = 600;
  const bytesDef = def('bytesbatch', { batch: { maxMessages: 100, maxWaitMs: 20, maxBytes: CAP } });
  const batches: { id: string; bytes: number }[][] = [];

  @Injectable()
  class BytesHandlers {
    @OnJetStreamMessage(bytesDef)
    async onBatch(items: BatchItem[]): Promise<(Error | undefined)[]> {
      batches.push(
        items.map((i) => ({
          id: (i.payload as Probe).id,
          bytes: Buffer.byteLength(JSON.stringify(i.payload)),
        })),
      );
      // Slow enough that the next messages pile up in the filling batch meanwhile.
      await new Promise((r) => setTimeout(r, 100));
      return items.map(() => undefined);
    }
  }

  let app: TestingModule;
  beforeAll(async () => {
    app = await startApp([BytesHandlers], [bytesDef], new Control());
  });
  afterAll(async () => {
    await app?.close();
  });

  it('keeps every batch within maxBytes of payload; a larger message is a batch of its own', async () => {
    const bus = app.get(BusService);
    const ids = Array.from({ length: 30 }, (_, i) => `b-${i}`);
    // ~150 bytes each, and one message bigger than the whole budget in the middle.
    await Promise.all(
      ids.map((id, i) =>
        bus.publishDurable(
          BytesSubject,
          { v: 1, id, pad: 'x'.repeat(i === 15 ? CAP + 100 : 120) },
          `bytesbatch:${id}`,
          id,
        ),
      ),
    );
    await waitUntil('all handled', () => batches.flat().length === ids.length);
    await waitSettled('bytesbatch');
    expect(
      batches
        .flat()
        .map((b) => b.id)
        .sort(),
    ).toEqual([...ids].sort());
    const big = batches.find((b) => b.some((m) => m.id === 'b-15'))!;
    expect(big).toHaveLength(1);
    expect(big[0].bytes).toBeGreaterThan(CAP);
    for (const b of batches.filter((x) => x !== big))
      expect(b.reduce((a, m) => a + m.bytes, 0)).toBeLessThanOrEqual(CAP);
    // The budget is what split them: the messages piled up, so batches came out full (3 or
    // 4 messages of ~150 bytes), not one message at a time.
    expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThanOrEqual(3);
  });
});
