// JetStream provisioning and durable publishing against the real server: ensureStream and
// ensureConsumer are idempotent (sequentially and across concurrent connections) and repair
// drift; publishDurable deduplicates by Nats-Msg-Id inside the stream's window.
import { TestingModule } from '@nestjs/testing';
import { jetstreamManager, JetStreamManager } from '@nats-io/jetstream';
import { connect, nanos, NatsConnection } from '@nats-io/transport-node';
import type { FirstUserTelemetryEvent } from '@agentmesh/contracts';
import { deleteStreamsForPrefix, randomPrefix, TEST_NATS_URL, useTestDatabase } from '@agentmesh/testing';
import { busTestModule } from '../test/bus-test-module';
import { BusService } from './bus.service';
import { ConsumerDef, ensureConsumer, ensureStream, STREAMS } from './streams';
import { SubjectCatalog, Subjects } from './subjects';

const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
const conns: NatsConnection[] = [];

async function manager(): Promise<JetStreamManager> {
  const nc = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
  conns.push(nc);
  return jetstreamManager(nc);
}

afterAll(async () => {
  await deleteStreamsForPrefix(prefix);
  for (const nc of conns) await nc.close();
});

describe('ensureStream', () => {
  it('creates a missing stream with the prefixed subjects, limits and duplicate window', async () => {
    const jsm = await manager();
    await ensureStream(jsm, cat, STREAMS.AIBRIDGE);
    const info = await jsm.streams.info(cat.streamName('AIBRIDGE'));
    expect(info.config.name).toBe(`${prefix.toUpperCase()}_AIBRIDGE`);
    expect(info.config.subjects).toEqual([`${prefix}.aibridge.>`]);
    expect(info.config.max_age).toBe(nanos(STREAMS.AIBRIDGE.maxAgeMs));
    expect(info.config.duplicate_window).toBe(nanos(STREAMS.AIBRIDGE.duplicateWindowMs));
    expect(info.config.num_replicas).toBe(1);
  });

  it('is idempotent: a second call leaves the same stream (same creation time, config unchanged)', async () => {
    const jsm = await manager();
    await ensureStream(jsm, cat, STREAMS.TELEMETRY);
    const first = await jsm.streams.info(cat.streamName('TELEMETRY'));
    await ensureStream(jsm, cat, STREAMS.TELEMETRY);
    const second = await jsm.streams.info(cat.streamName('TELEMETRY'));
    expect(second.created).toBe(first.created);
    expect(second.config).toEqual(first.config);
  });

  it('is safe when two replicas provision the same missing stream concurrently', async () => {
    const [a, b] = await Promise.all([manager(), manager()]);
    await expect(
      Promise.all([ensureStream(a, cat, STREAMS.CHAT_EVENTS), ensureStream(b, cat, STREAMS.CHAT_EVENTS)]),
    ).resolves.toBeDefined();
    const info = await a.streams.info(cat.streamName('CHAT_EVENTS'));
    expect(info.config.subjects).toEqual([`${prefix}.chat.events.>`]);
  });

  it('repairs a drifted stream (subjects, max age, duplicate window) in place', async () => {
    const jsm = await manager();
    await ensureStream(jsm, cat, STREAMS.DEAD_LETTERS);
    const name = cat.streamName('DEAD_LETTERS');
    const created = (await jsm.streams.info(name)).created;
    await jsm.streams.update(name, {
      subjects: [`${prefix}.dlq.>`, `${prefix}.drift.>`],
      max_age: nanos(60_000),
      duplicate_window: nanos(5_000),
    });
    await ensureStream(jsm, cat, STREAMS.DEAD_LETTERS);
    const info = await jsm.streams.info(name);
    expect(info.created).toBe(created);
    expect(info.config.subjects).toEqual([`${prefix}.dlq.>`]);
    expect(info.config.max_age).toBe(nanos(STREAMS.DEAD_LETTERS.maxAgeMs));
    expect(info.config.duplicate_window).toBe(nanos(STREAMS.DEAD_LETTERS.duplicateWindowMs));
  });
});

describe('ensureConsumer', () => {
  const def: ConsumerDef = {
    stream: 'TELEMETRY',
    durable: 'prov',
    filter: 'telemetry.prov.>',
    maxDeliver: 4,
    ackWaitMs: 2000,
    backoffMs: [50],
  };

  beforeAll(async () => {
    await ensureStream(await manager(), cat, STREAMS.TELEMETRY);
  });

  it('creates an explicit-ack durable with the prefixed filter and no server-side delivery limit', async () => {
    const jsm = await manager();
    await ensureConsumer(jsm, cat, def);
    const info = await jsm.consumers.info(cat.streamName('TELEMETRY'), 'prov');
    expect(info.config.durable_name).toBe('prov');
    expect(info.config.ack_policy).toBe('explicit');
    expect(info.config.filter_subject).toBe(`${prefix}.telemetry.prov.>`);
    expect(info.config.ack_wait).toBe(nanos(2000));
    // The loop dead-letters after maxDeliver failures; the server never gives up on its own.
    expect(info.config.max_deliver).toBe(-1);
    expect(info.config.max_ack_pending).toBe(1000);
  });

  it('is idempotent: a second call keeps the same consumer', async () => {
    const jsm = await manager();
    await ensureConsumer(jsm, cat, def);
    const first = await jsm.consumers.info(cat.streamName('TELEMETRY'), 'prov');
    await ensureConsumer(jsm, cat, def);
    const second = await jsm.consumers.info(cat.streamName('TELEMETRY'), 'prov');
    expect(second.created).toBe(first.created);
    expect(second.config).toEqual(first.config);
  });

  it('is safe when two replicas provision the same missing consumer concurrently', async () => {
    const [a, b] = await Promise.all([manager(), manager()]);
    const d: ConsumerDef = { ...def, durable: 'prov_concurrent' };
    await expect(Promise.all([ensureConsumer(a, cat, d), ensureConsumer(b, cat, d)])).resolves.toBeDefined();
    const names: string[] = [];
    for await (const c of a.consumers.list(cat.streamName('TELEMETRY'))) names.push(c.name);
    expect(names.filter((n) => n === 'prov_concurrent')).toHaveLength(1);
  });

  it('repairs a drifted consumer (ack wait, max deliver, max ack pending) without recreating it', async () => {
    const jsm = await manager();
    const stream = cat.streamName('TELEMETRY');
    const created = (await jsm.consumers.info(stream, 'prov')).created;
    await jsm.consumers.update(stream, 'prov', {
      ack_wait: nanos(9000),
      max_deliver: 20,
      max_ack_pending: 7,
    });
    await ensureConsumer(jsm, cat, def);
    const info = await jsm.consumers.info(stream, 'prov');
    expect(info.created).toBe(created);
    expect(info.config.ack_wait).toBe(nanos(2000));
    expect(info.config.max_deliver).toBe(-1);
    expect(info.config.max_ack_pending).toBe(1000);
  });

  it('fails clearly when the stream does not exist', async () => {
    const jsm = await manager();
    const other = new SubjectCatalog(randomPrefix());
    await expect(ensureConsumer(jsm, other, def)).rejects.toThrow(/not found/i);
  });
});

describe('publishDurable', () => {
  const db = useTestDatabase();
  let app: TestingModule;
  let bus: BusService;

  beforeAll(async () => {
    app = await busTestModule({
      dbUrl: db.url,
      prefix,
      streams: ['TELEMETRY'],
      outbox: { enabled: false },
    }).compile();
    await app.init();
    bus = app.get(BusService);
  });

  afterAll(async () => {
    await app?.close();
  });

  const event = (id: string): FirstUserTelemetryEvent => ({
    v: 1,
    user_id: id,
    organization_id: 'org',
    email: `${id}@example.com`,
    username: id,
    created_at: '2025-01-01T00:00:00Z',
  });

  it('stores the message and drops a second publish with the same msgId inside the duplicate window', async () => {
    const jsm = await manager();
    const stream = cat.streamName('TELEMETRY');
    const subject = `${prefix}.telemetry.first_user`;
    const before =
      (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const first = await bus.publishDurable(Subjects.telemetryFirstUser, event('u1'), 'first-user:u1');
    const second = await bus.publishDurable(Subjects.telemetryFirstUser, event('u1'), 'first-user:u1');
    expect(first.stream).toBe(stream);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const after =
      (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    expect(after - before).toBe(1);
    const stored = await jsm.streams.getMessage(stream, { seq: first.seq });
    expect(stored!.subject).toBe(subject);
    expect(stored!.header.get('Nats-Msg-Id')).toBe('first-user:u1');
    expect(stored!.json()).toEqual(event('u1'));
  });

  it('stores messages with different msgIds separately', async () => {
    const a = await bus.publishDurable(Subjects.telemetryFirstUser, event('u2'), 'first-user:u2');
    const b = await bus.publishDurable(Subjects.telemetryFirstUser, event('u3'), 'first-user:u3');
    expect(b.duplicate).toBe(false);
    expect(b.seq).toBeGreaterThan(a.seq);
  });

  it('rejects a publish to a subject no stream covers', async () => {
    await expect(
      bus.publishRawDurable(`${prefix}.nostream.here`, new Uint8Array([123, 125]), 'x'),
    ).rejects.toThrow();
  });
});
