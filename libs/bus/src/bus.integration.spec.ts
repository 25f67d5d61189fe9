// Core NATS through a real Nest app against the real server: typed publish/subscribe with
// trace context, queue groups, request/reply, handler registration at startup, readiness,
// and shutdown that waits for the core handlers still running.
import { Inject, Injectable, Type } from '@nestjs/common';
import { TestingModule } from '@nestjs/testing';
import { context, trace } from '@opentelemetry/api';
import { DataSource } from 'typeorm';
import type { ChatdWakeSignal, ConfigChangedEvent } from '@agentmesh/contracts';
import { initTracing, ReadinessService, shutdownTracing, tracer } from '@agentmesh/observability';
import {
  deleteStreamsForPrefix,
  randomPrefix,
  TcpProxy,
  TEST_NATS_URL,
  useTestDatabase,
} from '@agentmesh/testing';
import { busTestModule } from '../test/bus-test-module';
import { BusRequestError, BusService, MessageMeta } from './bus.service';
import { HandlerRegistrationError, HandlerTarget, OnBusMessage } from './handlers';
import { NatsService } from './nats.service';
import { Subjects, SubjectSpec } from './subjects';

// Test-only subjects (the catalogue has no request/reply subject yet).
interface EchoRequest {
  text: string;
}
interface EchoReply {
  echo: string;
  subject: string;
}
const Echo: SubjectSpec<EchoRequest, [id: string]> = {
  key: 'test.echo',
  transport: 'core',
  template: 'test.echo.{id}',
};
const Slow: SubjectSpec<EchoRequest> = { key: 'test.slow', transport: 'core', template: 'test.slow' };
const Nobody: SubjectSpec<EchoRequest> = { key: 'test.nobody', transport: 'core', template: 'test.nobody' };

const RECORDER = Symbol('recorder');

interface Seen {
  payload: unknown;
  meta: MessageMeta;
  traceId?: string;
  spanId?: string;
}

/** Collects what a handler saw and lets a test wait for it. */
class Recorder {
  readonly seen: Seen[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  /** Released by tests to let slow handlers finish. */
  gate: Promise<void> = Promise.resolve();

  push(s: Seen): void {
    this.seen.push(s);
    this.waiters = this.waiters.filter((w) => {
      if (this.seen.length >= w.n) w.resolve();
      return this.seen.length < w.n;
    });
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<Seen[]> {
    if (this.seen.length < n) {
      await withTimeout(
        new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
        timeoutMs,
        `waiting for ${n} messages (have ${this.seen.length})`,
      );
    }
    return this.seen;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function record(rec: Recorder, payload: unknown, meta: MessageMeta): void {
  const ctx = trace.getActiveSpan()?.spanContext();
  rec.push({ payload, meta, traceId: ctx?.traceId, spanId: ctx?.spanId });
}

@Injectable()
class WakeHandler {
  constructor(@Inject(RECORDER) private readonly rec: Recorder) {}
  @OnBusMessage(Subjects.chatdWake)
  onWake(payload: ChatdWakeSignal, meta: MessageMeta): void {
    record(this.rec, payload, meta);
  }
}

@Injectable()
class FailingFirstWakeHandler {
  private calls = 0;
  constructor(@Inject(RECORDER) private readonly rec: Recorder) {}
  @OnBusMessage(Subjects.chatdWake)
  async onWake(payload: ChatdWakeSignal, meta: MessageMeta): Promise<void> {
    if (++this.calls === 1) throw new Error('handler bug on the first message');
    record(this.rec, payload, meta);
  }
}

@Injectable()
class ConfigQueueHandler {
  constructor(@Inject(RECORDER) private readonly rec: Recorder) {}
  @OnBusMessage(Subjects.configChanged, { queue: 'replicas' })
  onConfig(payload: ConfigChangedEvent, meta: MessageMeta): void {
    record(this.rec, payload, meta);
  }
}

@Injectable()
class EchoHandler {
  constructor(@Inject(RECORDER) private readonly rec: Recorder) {}
  @OnBusMessage(Echo)
  onEcho(payload: EchoRequest, meta: MessageMeta): void {
    meta.reply?.({ echo: payload.text, subject: meta.subject } satisfies EchoReply);
  }
  @OnBusMessage(Slow)
  async onSlow(payload: EchoRequest, meta: MessageMeta): Promise<void> {
    record(this.rec, payload, meta);
    await this.rec.gate;
    meta.reply?.({ echo: payload.text, subject: meta.subject } satisfies EchoReply);
  }
}

/** Records the start, waits for the test's gate, then uses Postgres and records the end. */
@Injectable()
class GatedWakeHandler {
  readonly finished: { chat_id?: string; db: string }[] = [];
  constructor(
    @Inject(RECORDER) private readonly rec: Recorder,
    private readonly ds: DataSource,
  ) {}
  @OnBusMessage(Subjects.chatdWake)
  async onWake(payload: ChatdWakeSignal, meta: MessageMeta): Promise<void> {
    record(this.rec, payload, meta);
    await this.rec.gate;
    const [row] = await this.ds.query<{ db: string }[]>(`SELECT 'still open' AS db`);
    this.finished.push({ chat_id: payload.chat_id, db: row.db });
  }
}

@Injectable()
class SecondWakeHandler {
  @OnBusMessage(Subjects.chatdWake)
  onWakeToo(): void {
    return undefined;
  }
}

const db = useTestDatabase();
const prefix = randomPrefix();
const apps: TestingModule[] = [];

function moduleFor(
  providers: Type<unknown>[],
  subscriptions: HandlerTarget[],
  rec = new Recorder(),
  natsUrl = TEST_NATS_URL,
): Promise<TestingModule> {
  return busTestModule({
    dbUrl: db.url,
    prefix,
    natsUrl,
    subscriptions,
    outbox: { enabled: false },
    providers: [{ provide: RECORDER, useValue: rec }, ...providers],
  }).compile();
}

/** A started app (init + bootstrap hooks ran); closed in afterAll. */
async function startApp(
  providers: Type<unknown>[],
  subscriptions: HandlerTarget[],
): Promise<{ app: TestingModule; rec: Recorder }> {
  const rec = new Recorder();
  const app = await moduleFor(providers, subscriptions, rec);
  apps.push(app);
  await app.init();
  // The subscriptions exist on the server once the client's SUB has been processed.
  await app.get(NatsService).nc.flush();
  return { app, rec };
}

/**
 * Nest's close() rethrows a failed init without running shutdown hooks, so an app whose
 * bootstrap failed is released by hand.
 */
async function releaseFailedApp(app: TestingModule): Promise<void> {
  await app.get(NatsService).onApplicationShutdown();
  const ds = app.get(DataSource);
  if (ds.isInitialized) await ds.destroy();
}

beforeAll(() => initTracing('bus-test'));

afterAll(async () => {
  for (const app of apps.reverse()) await app.close();
  await shutdownTracing();
  await deleteStreamsForPrefix(prefix);
});

describe('core publish/subscribe', () => {
  let publisher: BusService;
  let rec: Recorder;

  beforeAll(async () => {
    const started = await startApp([WakeHandler], [{ kind: 'subject', subject: Subjects.chatdWake }]);
    publisher = started.app.get(BusService);
    rec = started.rec;
  });

  it('delivers a typed payload on the prefixed subject', async () => {
    const before = rec.seen.length;
    publisher.publish(Subjects.chatdWake, { v: 1, chat_id: 'c-typed' });
    const seen = await rec.waitFor(before + 1);
    expect(seen[before].payload).toEqual({ v: 1, chat_id: 'c-typed' });
    expect(seen[before].meta.subject).toBe(`${prefix}.chatd.wake`);
    expect(seen[before].meta.reply).toBeUndefined();
  });

  it('propagates the publisher trace context: the handler runs in a child span of the same trace', async () => {
    const before = rec.seen.length;
    let traceId = '';
    let spanId = '';
    tracer().startActiveSpan('publisher', (span) => {
      traceId = span.spanContext().traceId;
      spanId = span.spanContext().spanId;
      publisher.publish(Subjects.chatdWake, { v: 1, chat_id: 'c-traced' });
      span.end();
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe('0'.repeat(32));
    const got = (await rec.waitFor(before + 1))[before];
    expect(got.meta.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-${spanId}-0[01]$`));
    expect(got.traceId).toBe(traceId);
    expect(got.spanId).toBeDefined();
    expect(got.spanId).not.toBe(spanId);
  });

  it('starts a fresh trace in the handler when the publisher had no active span', async () => {
    const before = rec.seen.length;
    context.with(trace.deleteSpan(context.active()), () =>
      publisher.publish(Subjects.chatdWake, { v: 1, chat_id: 'c-untraced' }),
    );
    const got = (await rec.waitFor(before + 1))[before];
    expect(got.meta.headers.traceparent).toBeUndefined();
    expect(got.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('core handler failures', () => {
  it('keeps the subscription alive after a handler throws or a payload is not JSON', async () => {
    const { app, rec } = await startApp(
      [FailingFirstWakeHandler],
      [{ kind: 'subject', subject: Subjects.chatdWake }],
    );
    const nc = app.get(NatsService).nc;
    const bus = app.get(BusService);
    bus.publish(Subjects.chatdWake, { v: 1, chat_id: 'first-throws' });
    nc.publish(`${prefix}.chatd.wake`, new TextEncoder().encode('{not json'));
    bus.publish(Subjects.chatdWake, { v: 1, chat_id: 'after-failures' });
    // Other apps of this suite also listen on chatd.wake; this app's recorder only sees its own.
    const seen = await rec.waitFor(1);
    expect(seen.map((s) => s.payload)).toEqual([{ v: 1, chat_id: 'after-failures' }]);
  });
});

describe('queue groups', () => {
  it('delivers each message to exactly one member of the group across replicas', async () => {
    const subs: HandlerTarget[] = [{ kind: 'subject', subject: Subjects.configChanged, queue: 'replicas' }];
    const a = await startApp([ConfigQueueHandler], subs);
    const b = await startApp([ConfigQueueHandler], subs);
    const bus = a.app.get(BusService);
    const n = 60;
    for (let i = 0; i < n; i++)
      bus.publish(Subjects.configChanged, { v: 1, kind: 'test', entity_id: `e${i}` });
    await a.app.get(NatsService).nc.flush();
    await withTimeout(
      (async () => {
        while (a.rec.seen.length + b.rec.seen.length < n) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      'queue group deliveries',
    );
    // Let any (wrong) extra deliveries arrive before counting.
    await a.app.get(NatsService).nc.flush();
    await b.app.get(NatsService).nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    const ids = [...a.rec.seen, ...b.rec.seen].map((s) => (s.payload as { entity_id: string }).entity_id);
    expect(ids).toHaveLength(n);
    expect(new Set(ids).size).toBe(n);
    // Random distribution over 60 messages: both members practically always get some.
    expect(a.rec.seen.length).toBeGreaterThan(0);
    expect(b.rec.seen.length).toBeGreaterThan(0);
  });

  it('delivers every message to every replica when no queue group is declared (fan-out)', async () => {
    const subs: HandlerTarget[] = [{ kind: 'subject', subject: Subjects.chatdWake }];
    const a = await startApp([WakeHandler], subs);
    const b = await startApp([WakeHandler], subs);
    a.app.get(BusService).publish(Subjects.chatdWake, { v: 1, chat_id: 'fan-out' });
    const [sa, sb] = await Promise.all([a.rec.waitFor(1), b.rec.waitFor(1)]);
    expect(sa[0].payload).toEqual({ v: 1, chat_id: 'fan-out' });
    expect(sb[0].payload).toEqual({ v: 1, chat_id: 'fan-out' });
  });
});

describe('request/reply', () => {
  let bus: BusService;
  let rec: Recorder;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    const started = await startApp(
      [EchoHandler],
      [
        { kind: 'subject', subject: Echo },
        { kind: 'subject', subject: Slow },
      ],
    );
    bus = started.app.get(BusService);
    rec = started.rec;
    rec.gate = new Promise<void>((r) => (release = r));
  });

  afterAll(() => release());

  it('returns the responder reply, decoded', async () => {
    const reply = await bus.request<EchoReply>(Echo, { text: 'hello' }, 5000, 'abc');
    expect(reply).toEqual({ echo: 'hello', subject: `${prefix}.test.echo.abc` });
  });

  it('rejects with BusRequestError no_responders when nobody listens', async () => {
    const err = await bus.request(Nobody, { text: 'anyone?' }, 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect((err as BusRequestError).kind).toBe('no_responders');
    expect((err as BusRequestError).message).toContain(`${prefix}.test.nobody`);
  });

  it('rejects with BusRequestError timeout when the responder is slower than the timeout', async () => {
    const err = await bus.request(Slow, { text: 'slow' }, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect((err as BusRequestError).kind).toBe('timeout');
    // The responder did receive it: the timeout is not a delivery failure.
    expect(rec.seen.some((s) => (s.payload as EchoRequest).text === 'slow')).toBe(true);
  });

  it('rejects an invalid subject argument before sending anything', async () => {
    await expect(bus.request(Echo, { text: 'x' }, 1000, 'a.b')).rejects.toThrow(/invalid token/);
  });
});

describe('handler registration at startup', () => {
  it('refuses to start when a declared subscription has no handler', async () => {
    const app = await moduleFor(
      [WakeHandler],
      [
        { kind: 'subject', subject: Subjects.chatdWake },
        { kind: 'subject', subject: Subjects.configChanged },
      ],
    );
    try {
      const err = await app.init().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HandlerRegistrationError);
      expect((err as Error).message).toContain('subject:config.changed is subscribed but has no handler');
    } finally {
      await releaseFailedApp(app);
    }
  });

  it('refuses to start when a declared subscription has two handlers, naming both', async () => {
    const app = await moduleFor(
      [WakeHandler, SecondWakeHandler],
      [{ kind: 'subject', subject: Subjects.chatdWake }],
    );
    try {
      const err = await app.init().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(HandlerRegistrationError);
      expect((err as Error).message).toContain('subject:chatd.wake has 2 handlers');
      expect((err as Error).message).toContain('WakeHandler.onWake');
      expect((err as Error).message).toContain('SecondWakeHandler.onWakeToo');
    } finally {
      await releaseFailedApp(app);
    }
  });

  it('refuses to start when a provider handles a subject the app does not declare', async () => {
    const app = await moduleFor(
      [WakeHandler, ConfigQueueHandler],
      [{ kind: 'subject', subject: Subjects.chatdWake }],
    );
    try {
      await expect(app.init()).rejects.toThrow(
        /ConfigQueueHandler\.onConfig handles subject:config\.changed/,
      );
    } finally {
      await releaseFailedApp(app);
    }
  });
});

describe('NATS readiness', () => {
  it('passes while connected and fails once the connection has drained on shutdown', async () => {
    const app = await moduleFor([], []);
    await app.init();
    const readiness = app.get(ReadinessService);
    const up = await readiness.evaluate();
    expect(up.checks.nats).toEqual(expect.objectContaining({ ok: true }));
    expect(app.get(NatsService).isConnected).toBe(true);
    await app.close();
    const down = await readiness.evaluate();
    expect(down.checks.nats).toEqual(expect.objectContaining({ ok: false, error: 'not connected to NATS' }));
    expect(app.get(NatsService).nc.isClosed()).toBe(true);
  });
});

describe('shutdown with core handlers in flight', () => {
  it('waits for a running handler to finish (it can still use Postgres) before close() resolves', async () => {
    const rec = new Recorder();
    let release: () => void = () => undefined;
    rec.gate = new Promise<void>((r) => (release = r));
    const app = await moduleFor([GatedWakeHandler], [{ kind: 'subject', subject: Subjects.chatdWake }], rec);
    let closed = false;
    try {
      await app.init();
      await app.get(NatsService).nc.flush();
      const handler = app.get(GatedWakeHandler);
      app.get(BusService).publish(Subjects.chatdWake, { v: 1, chat_id: 'in-flight' });
      await rec.waitFor(1);
      expect(handler.finished).toEqual([]);

      const releasedAt = Date.now() + 300;
      const timer = setTimeout(release, 300);
      try {
        await app.close();
        closed = true;
      } finally {
        clearTimeout(timer);
      }
      expect(Date.now()).toBeGreaterThanOrEqual(releasedAt - 50);
      expect(handler.finished).toEqual([{ chat_id: 'in-flight', db: 'still open' }]);
      expect(app.get(DataSource).isInitialized).toBe(false);
    } finally {
      release();
      if (!closed) await app.close();
    }
  });
});

describe('NATS reconnect', () => {
  it('turns readiness red while disconnected, green after reconnecting, and keeps subscriptions working', async () => {
    const proxy = await TcpProxy.start();
    const rec = new Recorder();
    const app = await moduleFor(
      [WakeHandler],
      [{ kind: 'subject', subject: Subjects.chatdWake }],
      rec,
      proxy.url,
    );
    try {
      await app.init();
      const readiness = app.get(ReadinessService);
      const nats = app.get(NatsService);
      expect((await readiness.evaluate()).checks.nats.ok).toBe(true);

      proxy.cut();
      await waitFor('readiness to turn red', async () => !(await readiness.evaluate()).checks.nats.ok);
      expect(nats.isConnected).toBe(false);

      // reconnectTimeWait is 1 s (+ jitter): the client comes back through the same proxy.
      await waitFor('readiness to turn green again', async () => (await readiness.evaluate()).checks.nats.ok);
      expect(nats.isConnected).toBe(true);

      nats.nc.publish(
        `${prefix}.chatd.wake`,
        new TextEncoder().encode(JSON.stringify({ v: 1, chat_id: 'after-reconnect' })),
      );
      const seen = await rec.waitFor(1);
      expect(seen.map((s) => s.payload)).toContainEqual({ v: 1, chat_id: 'after-reconnect' });
    } finally {
      await app.close();
      await proxy.close();
    }
  });
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
