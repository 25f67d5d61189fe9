// The transactional outbox against real Postgres and JetStream: rows written in a committed
// transaction are relayed in id order with Nats-Msg-Id = msg_id and deleted; rolled-back rows
// never exist; a failed publish stays behind (attempts, last_error) and holds back the rows
// after it; trace context of the enqueuing code travels with the event. The relay runs only
// in apps that enable it.
import { TestingModule } from '@nestjs/testing';
import { jetstreamManager, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import { initTracing, shutdownTracing, tracer } from '@agentmesh/observability';
import {
  deleteStreamsForPrefix,
  randomPrefix,
  TcpProxy,
  TEST_NATS_URL,
  useTestDatabase,
} from '@agentmesh/testing';
import { busTestModule } from '../test/bus-test-module';
import { BusService } from './bus.service';
import { OutboxOptions, OutboxService } from './outbox';
import { SubjectCatalog, Subjects, SubjectSpec } from './subjects';

interface OutboxProbe {
  v: 1;
  n: number;
  note?: string;
}
const Event: SubjectSpec<OutboxProbe, [id: string]> = {
  key: 'test.outbox',
  transport: 'jetstream',
  stream: 'TELEMETRY',
  template: 'telemetry.outbox.{id}',
};
// A JetStream subject that no stream of this prefix covers: publishing it always fails.
const Unrouted: SubjectSpec<OutboxProbe> = {
  key: 'test.unrouted',
  transport: 'jetstream',
  stream: 'TELEMETRY',
  template: 'unrouted.event',
};

interface Row {
  id: string;
  subject: string;
  msg_id: string;
  payload: OutboxProbe;
  attempts: number;
  last_error: string | null;
}

const db = useTestDatabase();
const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
const STREAM = cat.streamName('TELEMETRY');
let app: TestingModule;
let outbox: OutboxService;
let ds: DataSource;
let admin: NatsConnection;
let jsm: JetStreamManager;
let testNo = 0;
/** A subject id unique to the running test, so tests never see each other's events. */
let tid = '';

beforeAll(async () => {
  initTracing('bus-test');
  app = await busTestModule({
    dbUrl: db.url,
    prefix,
    poolSize: 4,
    streams: ['TELEMETRY'],
    // Enabled (so kick() works) but the timer never fires during the suite: tests relay explicitly.
    outbox: { enabled: true, pollIntervalMs: 3_600_000, batchSize: 2 },
  }).compile();
  await app.init();
  outbox = app.get(OutboxService);
  ds = app.get(DataSource);
  admin = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
  jsm = await jetstreamManager(admin);
});

beforeEach(async () => {
  tid = `case${++testNo}`;
  await ds.query('DELETE FROM event_outbox');
});

afterAll(async () => {
  await app?.close();
  await admin?.close();
  await shutdownTracing();
  await deleteStreamsForPrefix(prefix);
});

async function rows(): Promise<Row[]> {
  return ds.query('SELECT id, subject, msg_id, payload, attempts, last_error FROM event_outbox ORDER BY id');
}

/** Every stored message of this test's subjects, in stream order. */
async function published(): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  const info = await jsm.streams.info(STREAM);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(STREAM, { seq });
    if (m && m.subject.startsWith(`${prefix}.telemetry.outbox.${tid}`)) out.push(m);
  }
  return out;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const probe = (n: number, note?: string): OutboxProbe =>
  note === undefined ? { v: 1, n } : { v: 1, n, note };

describe('OutboxService', () => {
  it('relays an event enqueued in a committed transaction after kick(): published with Nats-Msg-Id = msg_id, row deleted', async () => {
    await ds.transaction(async (em) => {
      await em.query(`SELECT 1`); // the caller's own writes would go here
      await outbox.enqueue(em, Event, probe(1, 'committed'), `${tid}:1`, tid);
    });
    expect(await rows()).toEqual([
      expect.objectContaining({
        subject: `telemetry.outbox.${tid}`,
        msg_id: `${tid}:1`,
        attempts: 0,
        last_error: null,
      }),
    ]);

    outbox.kick();
    await waitUntil('the relay deleted the row', async () => (await rows()).length === 0);
    const msgs = await published();
    expect(msgs).toHaveLength(1);
    expect(msgs[0].subject).toBe(`${prefix}.telemetry.outbox.${tid}`);
    expect(msgs[0].header.get('Nats-Msg-Id')).toBe(`${tid}:1`);
    expect(msgs[0].json()).toEqual(probe(1, 'committed'));
  });

  it('publishes nothing for an event enqueued in a transaction that rolled back', async () => {
    await expect(
      ds.transaction(async (em) => {
        await outbox.enqueue(em, Event, probe(1), `${tid}:1`, tid);
        throw new Error('business rule failed after enqueue');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await rows()).toEqual([]);
    expect(await outbox.relayOnce()).toBe(0);
    expect(await published()).toEqual([]);
  });

  it('does not publish an event before its transaction commits', async () => {
    const qr = ds.createQueryRunner();
    await qr.connect();
    await qr.startTransaction();
    try {
      await outbox.enqueue(qr.manager, Event, probe(1), `${tid}:1`, tid);
      expect(await outbox.relayOnce()).toBe(0);
      expect(await published()).toEqual([]);
      await qr.commitTransaction();
    } finally {
      if (qr.isTransactionActive) await qr.rollbackTransaction();
      await qr.release();
    }
    expect(await outbox.relayOnce()).toBe(1);
    expect(await published()).toHaveLength(1);
  });

  it('relays events in enqueue order across several batches and returns the count', async () => {
    // batchSize is 2: five events take three batches.
    await ds.transaction(async (em) => {
      for (let n = 1; n <= 3; n++) await outbox.enqueue(em, Event, probe(n), `${tid}:${n}`, tid);
    });
    await ds.transaction(async (em) => {
      for (let n = 4; n <= 5; n++) await outbox.enqueue(em, Event, probe(n), `${tid}:${n}`, tid);
    });
    expect(await outbox.relayOnce()).toBe(5);
    expect(await rows()).toEqual([]);
    const msgs = await published();
    expect(msgs.map((m) => m.json<OutboxProbe>().n)).toEqual([1, 2, 3, 4, 5]);
    expect(msgs.map((m) => m.header.get('Nats-Msg-Id'))).toEqual([1, 2, 3, 4, 5].map((n) => `${tid}:${n}`));
    const seqs = msgs.map((m) => m.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('returns 0 and publishes nothing when the outbox is empty', async () => {
    const before = (await jsm.streams.info(STREAM)).state.last_seq;
    expect(await outbox.relayOnce()).toBe(0);
    expect((await jsm.streams.info(STREAM)).state.last_seq).toBe(before);
  });

  it('keeps a row whose publish fails (attempts + 1, last_error set) and holds back the rows after it', async () => {
    await ds.transaction(async (em) => {
      await outbox.enqueue(em, Event, probe(1, 'before'), `${tid}:1`, tid);
      await outbox.enqueue(em, Unrouted, probe(2, 'unroutable'), `${tid}:2`);
      await outbox.enqueue(em, Event, probe(3, 'after'), `${tid}:3`, tid);
    });

    expect(await outbox.relayOnce()).toBe(1);
    let left = await rows();
    expect(left.map((r) => r.msg_id)).toEqual([`${tid}:2`, `${tid}:3`]);
    expect(left[0]).toEqual(
      expect.objectContaining({ subject: 'unrouted.event', attempts: 1, last_error: expect.any(String) }),
    );
    expect(left[0].last_error).not.toBe('');
    expect(left[1]).toEqual(expect.objectContaining({ attempts: 0, last_error: null }));
    expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([1]);

    // Every further run retries the head row and still holds back the rest.
    outbox.kick();
    await waitUntil('the kicked relay retried the failing row', async () => (await rows())[0].attempts === 2);
    expect(await outbox.relayOnce()).toBe(0);
    left = await rows();
    expect(left.map((r) => [r.msg_id, r.attempts])).toEqual([
      [`${tid}:2`, 3],
      [`${tid}:3`, 0],
    ]);
    expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([1]);

    // Once the head row is dealt with, the held-back row goes out.
    await ds.query('DELETE FROM event_outbox WHERE msg_id = $1', [`${tid}:2`]);
    expect(await outbox.relayOnce()).toBe(1);
    expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([1, 3]);
    expect(await rows()).toEqual([]);
  });

  it('deletes a row whose msg_id JetStream already stored (crash between publish and delete) without storing it twice', async () => {
    const bus = app.get(BusService);
    await bus.publishDurable(Event, probe(1), `${tid}:1`, tid);
    await ds.transaction((em) => outbox.enqueue(em, Event, probe(1), `${tid}:1`, tid));
    expect(await outbox.relayOnce()).toBe(1);
    expect(await rows()).toEqual([]);
    expect(await published()).toHaveLength(1);
  });

  it('carries the trace context of the enqueuing code, not of the relay', async () => {
    let traceId = '';
    await tracer().startActiveSpan('create chat', async (span) => {
      traceId = span.spanContext().traceId;
      await ds.transaction((em) => outbox.enqueue(em, Event, probe(1), `${tid}:1`, tid));
      span.end();
    });
    const [row] = await ds.query<{ headers: Record<string, string> }[]>('SELECT headers FROM event_outbox');
    expect(row.headers.traceparent).toContain(traceId);

    await tracer().startActiveSpan('relay', async (span) => {
      await outbox.relayOnce();
      span.end();
    });
    const [msg] = await published();
    expect(msg.header.get('traceparent')).toContain(traceId);
  });

  it('publishes every event enqueued before a kick, also when kicks overlap a running relay', async () => {
    await ds.transaction((em) => outbox.enqueue(em, Event, probe(1), `${tid}:1`, tid));
    outbox.kick();
    await ds.transaction((em) => outbox.enqueue(em, Event, probe(2), `${tid}:2`, tid));
    outbox.kick();
    await ds.transaction((em) => outbox.enqueue(em, Event, probe(3), `${tid}:3`, tid));
    outbox.kick();
    await waitUntil('all rows were relayed', async () => (await rows()).length === 0);
    expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([1, 2, 3]);
  });

  it('rejects a core (non-JetStream) subject and writes nothing', async () => {
    await expect(
      ds.transaction((em) => outbox.enqueue(em, Subjects.chatdWake, { v: 1 }, `${tid}:core`)),
    ).rejects.toThrow(/outbox events must go to a JetStream subject, not chatd\.wake/);
    expect(await rows()).toEqual([]);
  });

  it('rejects an invalid subject argument and writes nothing', async () => {
    await expect(
      ds.transaction((em) => outbox.enqueue(em, Event, probe(1), `${tid}:bad`, 'a.b')),
    ).rejects.toThrow(/invalid token/);
    expect(await rows()).toEqual([]);
  });

  it('does not let a second relay (another replica) publish rows behind a row the first relay is still publishing', async () => {
    // Replica A reaches NATS through a proxy the test can stall: its relay picks the head row
    // and hangs in the publish, exactly as a replica on a slow network would.
    const proxy = await TcpProxy.start();
    const replicaA = await busTestModule({
      dbUrl: db.url,
      prefix,
      name: 'bus-test-a',
      natsUrl: proxy.url,
      streams: ['TELEMETRY'],
      outbox: { enabled: false, batchSize: 1 },
    }).compile();
    await replicaA.init();
    let relayA: Promise<number> | undefined;
    try {
      await ds.transaction(async (em) => {
        await outbox.enqueue(em, Event, probe(1), `${tid}:1`, tid);
        await outbox.enqueue(em, Event, probe(2), `${tid}:2`, tid);
      });
      proxy.stall();
      relayA = replicaA.get(OutboxService).relayOnce();
      // Replica A has selected the head row (batch of 1) and sent its publish into the stall.
      await waitUntil('replica A is publishing event 1', async () =>
        proxy.stalledText().includes(`telemetry.outbox.${tid}`),
      );

      // Replica B relays meanwhile: publishing event 2 now would put it ahead of event 1.
      await outbox.relayOnce();
      expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([]);
    } finally {
      proxy.release();
      await relayA?.catch(() => 0);
      await replicaA.close();
      await proxy.close();
    }
    await outbox.relayOnce();
    expect((await published()).map((m) => m.json<OutboxProbe>().n)).toEqual([1, 2]);
    expect(await rows()).toEqual([]);
  });
});

/** Another replica on the same database and prefix; `outbox` is passed to BusModule as given. */
async function startReplica(name: string, outboxOpt?: Partial<OutboxOptions>): Promise<TestingModule> {
  const replica = await busTestModule({
    dbUrl: db.url,
    prefix,
    name,
    streams: ['TELEMETRY'],
    outbox: outboxOpt,
  }).compile();
  await replica.init();
  return replica;
}

describe('BusModule outbox relay option', () => {
  it('does not relay when the app passes no outbox option (off by default)', async () => {
    const replica = await startReplica('bus-test-default');
    try {
      const replicaDs = replica.get(DataSource);
      const replicaOutbox = replica.get(OutboxService);
      await replicaDs.transaction((em) => replicaOutbox.enqueue(em, Event, probe(1), `${tid}:1`, tid));
      expect(await rows()).toHaveLength(1);
      // An enabled relay would have polled at least once by now (default interval 1 s).
      await new Promise((r) => setTimeout(r, 2000));
      expect(await rows()).toEqual([expect.objectContaining({ msg_id: `${tid}:1`, attempts: 0 })]);
      expect(await published()).toEqual([]);
    } finally {
      await replica.close();
    }
  });

  it('relays on its own (no kick) when the app enables it with { enabled: true }', async () => {
    const replica = await startReplica('bus-test-enabled', { enabled: true });
    try {
      const replicaDs = replica.get(DataSource);
      const replicaOutbox = replica.get(OutboxService);
      await replicaDs.transaction((em) => replicaOutbox.enqueue(em, Event, probe(1), `${tid}:1`, tid));
      await waitUntil('the relay deleted the row', async () => (await rows()).length === 0);
      const msgs = await published();
      expect(msgs).toHaveLength(1);
      expect(msgs[0].header.get('Nats-Msg-Id')).toBe(`${tid}:1`);
      expect(msgs[0].json()).toEqual(probe(1));
    } finally {
      await replica.close();
    }
  });
});
