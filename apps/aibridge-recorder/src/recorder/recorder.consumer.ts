// The AI Bridge recorder: one durable pull consumer on the AIBRIDGE stream shared by every
// replica, taking messages in batches. A batch is validated message by message, then all its
// records are written in one transaction (records.store.ts) and the messages acked after the
// commit. A message with invalid records is dead-lettered with the problems named (its valid
// records are still stored); one ending an interception not recorded yet is retried later.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import {
  AibridgeKind,
  AibridgeRecord,
  describeAibridgeProblems,
  parseAibridgeValue,
} from '@agentmesh/contracts';
import {
  aibridgeKindOfSubject,
  BatchItem,
  ConsumerDef,
  NatsService,
  OnJetStreamMessage,
  RetryLater,
  TransientBatchError,
} from '@agentmesh/bus';
import { inTransaction, isDatabaseUnavailable } from '@agentmesh/db';
import { LOGGER, Metrics } from '@agentmesh/observability';
import { storeAibridgeRecords } from './records.store';

/** The consumer; batch sizes come from config (see AibridgeRecorderModule). */
export const AIBRIDGE_RECORDER_CONSUMER: ConsumerDef = {
  stream: 'AIBRIDGE',
  durable: 'aibridge-recorder',
  filter: 'aibridge.>',
  // An end may arrive before its start: it is retried, for about twenty minutes. A database
  // outage costs one delivery per DB_RETRY_WINDOW_MS (plus the backoff), so the same budget
  // lets the recorder ride out an outage of well over half an hour before dead-lettering.
  maxDeliver: 50,
  ackWaitMs: 30_000,
  backoffMs: [200, 500, 1000, 2000, 5000, 10_000, 30_000],
  maxAckPending: 20_000,
  batch: { maxMessages: 100, maxWaitMs: 20 },
};

const LAG_INTERVAL_MS = 5000;
/** How long one delivery of a batch waits for an unreachable database (below the ack wait). */
const DB_RETRY_WINDOW_MS = 20_000;

@Injectable()
export class AibridgeRecorder implements OnModuleInit, OnModuleDestroy {
  private readonly records;
  private readonly lag;
  private lagTimer?: NodeJS.Timeout;

  constructor(
    private readonly ds: DataSource,
    private readonly nats: NatsService,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.records = metrics.counter('aibridge_records_total', 'AI Bridge records received', [
      'kind',
      'outcome',
    ]);
    this.lag = metrics.gauge('aibridge_consumer_lag', 'AIBRIDGE messages not yet delivered to the recorder');
  }

  onModuleInit(): void {
    this.lagTimer = setInterval(() => void this.measureLag(), LAG_INTERVAL_MS);
    this.lagTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.lagTimer);
  }

  @OnJetStreamMessage(AIBRIDGE_RECORDER_CONSUMER)
  async onBatch(items: BatchItem[]): Promise<(Error | undefined)[]> {
    const outcomes: (Error | undefined)[] = items.map(() => undefined);
    const records: AibridgeRecord[] = [];
    const ownerOf: number[] = [];
    for (const [i, item] of items.entries()) {
      const kind = aibridgeKindOfSubject(this.nats.catalog, item.meta.subject);
      if (!kind) {
        outcomes[i] = new Error(`${item.meta.subject} is not an AI Bridge record subject`);
        continue;
      }
      const parsed = parseAibridgeValue(kind, item.payload);
      for (const r of parsed.records) {
        records.push(r);
        ownerOf.push(i);
      }
      if (!parsed.ok) {
        outcomes[i] = new Error(`invalid AI Bridge message: ${describeAibridgeProblems(parsed.problems)}`);
        this.count(kind, 'invalid');
      }
    }
    if (records.length === 0) return outcomes;

    const result = await this.store(items, records);

    for (const [j, r] of records.entries()) {
      if (r.kind === 'interception.ended' && result.unknownEnds.has(r.id)) {
        const i = ownerOf[j];
        if (outcomes[i] instanceof RetryLater) continue;
        // A message that is partly invalid is still retried while it holds an end that cannot
        // apply yet (dead-lettering it now would lose that end for good); once its ends apply,
        // or it runs out of deliveries, it is dead-lettered with every problem named.
        const early = `interception ${r.id} ended but was never started`;
        outcomes[i] = new RetryLater(outcomes[i] ? `${outcomes[i].message}; ${early}` : early);
      }
    }
    for (const [kind, n] of Object.entries(result.written)) if (n > 0) this.count(kind, 'written', n);
    const duplicates = records.length - Object.values(result.written).reduce((a, b) => a + b, 0);
    if (duplicates > 0) this.records.labels('any', 'duplicate_or_pending').inc(duplicates);
    return outcomes;
  }

  /**
   * The batch's transaction. While the database is unreachable it is retried here (the
   * messages' ack deadline extended meanwhile) for up to DB_RETRY_WINDOW_MS; after that the
   * whole batch goes back to the stream as one redelivery, so an outage costs few deliveries
   * and dead-letters nothing until it lasts longer than maxDeliver such windows.
   */
  private async store(items: BatchItem[], records: AibridgeRecord[]) {
    const deadline = Date.now() + DB_RETRY_WINDOW_MS;
    for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
      try {
        return await inTransaction(this.ds, (em) => storeAibridgeRecords(em, records));
      } catch (e) {
        if (!isDatabaseUnavailable(e)) throw e;
        if (Date.now() + delay > deadline)
          throw new TransientBatchError(`database unavailable: ${(e as Error).message}`);
        this.logger.warn({ err: e, retry_in_ms: delay }, 'database unavailable; retrying the batch');
        for (const item of items) item.meta.working();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private count(kind: AibridgeKind | 'batch' | string, outcome: string, n = 1): void {
    this.records.labels(kind, outcome).inc(n);
  }

  private async measureLag(): Promise<void> {
    try {
      const jsm = await this.nats.manager();
      const info = await jsm.consumers.info(
        this.nats.catalog.streamName(AIBRIDGE_RECORDER_CONSUMER.stream),
        AIBRIDGE_RECORDER_CONSUMER.durable,
      );
      this.lag.set(info.num_pending + info.num_ack_pending);
    } catch (e) {
      this.logger.debug({ err: e }, 'could not read the recorder consumer lag');
    }
  }
}
