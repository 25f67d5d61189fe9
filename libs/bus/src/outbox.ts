// Transactional outbox. A service that changes its rows and must announce it durably writes
// the event in the same transaction (`enqueue`); after commit the relay publishes pending
// rows to JetStream in id order with Nats-Msg-Id = msg_id and deletes them. A crash between
// publish and delete republishes the same id, which JetStream's duplicate window drops.
import { Inject, Injectable, OnApplicationBootstrap, BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { tryAdvisoryXactLock } from '@agentmesh/db';
import { LOGGER, Metrics, currentTraceHeaders } from '@agentmesh/observability';
import { BusService } from './bus.service';
import { encodeJson } from './codec';
import { AnySubject, ArgsOf, PayloadOf } from './subjects';

export const OUTBOX_OPTIONS = Symbol('agentmesh.outbox.options');
export interface OutboxOptions {
  enabled: boolean;
  pollIntervalMs: number;
  batchSize: number;
}

interface OutboxRow {
  id: string;
  subject: string;
  msg_id: string;
  payload: unknown;
  headers: Record<string, string>;
}

@Injectable()
export class OutboxService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly relayed;
  private readonly failures;

  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusService,
    metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(OUTBOX_OPTIONS) private readonly opts: OutboxOptions,
  ) {
    this.relayed = metrics.counter('outbox_relayed_total', 'Outbox events published to JetStream');
    this.failures = metrics.counter('outbox_publish_failures_total', 'Outbox publish attempts that failed');
  }

  /** Writes an event in the caller's transaction; it is published after commit. */
  async enqueue<S extends AnySubject>(
    em: EntityManager,
    spec: S,
    payload: PayloadOf<S>,
    msgId: string,
    ...args: ArgsOf<S>
  ): Promise<void> {
    if (spec.transport !== 'jetstream')
      throw new Error(`outbox events must go to a JetStream subject, not ${spec.key}`);
    const subject = this.bus.catalog.relative(this.bus.catalog.subject(spec, ...args));
    await em.query(`INSERT INTO event_outbox (subject, msg_id, payload, headers) VALUES ($1, $2, $3, $4)`, [
      subject,
      msgId,
      JSON.stringify(payload),
      JSON.stringify(currentTraceHeaders()),
    ]);
  }

  /** Asks the relay to run now (call after committing a transaction that enqueued). */
  kick(): void {
    if (!this.opts.enabled || this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Publishes pending rows until none are left or a publish fails; returns the count. */
  async relayOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const { published, complete } = await this.relayBatch();
      total += published;
      if (!complete || published < this.opts.batchSize) return total;
    }
  }

  private async drain(): Promise<void> {
    try {
      await this.relayOnce();
    } catch (e) {
      this.logger.warn({ err: e }, 'outbox relay failed; will retry');
    }
  }

  /** One batch in one transaction: deletes what was published, records the failure if any. */
  private async relayBatch(): Promise<{ published: number; complete: boolean }> {
    return this.ds.transaction(async (em) => {
      // One relay at a time across replicas: with row-level SKIP LOCKED a second replica
      // would publish the rows behind one the first is still publishing, out of order.
      if (!(await tryAdvisoryXactLock(em, 'outboxRelay'))) return { published: 0, complete: true };
      const rows: OutboxRow[] = await em.query(
        `SELECT id, subject, msg_id, payload, headers FROM event_outbox ORDER BY id LIMIT $1`,
        [this.opts.batchSize],
      );
      const done: string[] = [];
      for (const row of rows) {
        try {
          await this.bus.publishRawDurable(
            this.bus.catalog.absolute(row.subject),
            encodeJson(row.payload),
            row.msg_id,
            row.headers,
            row.subject,
          );
          done.push(row.id);
        } catch (e) {
          this.failures.inc();
          await em.query(`UPDATE event_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, [
            row.id,
            (e as Error).message,
          ]);
          // Stop here so events keep their order; the remaining rows go out on the next run.
          break;
        }
      }
      if (done.length > 0) await em.query(`DELETE FROM event_outbox WHERE id = ANY($1::bigint[])`, [done]);
      this.relayed.inc(done.length);
      return { published: done.length, complete: done.length === rows.length };
    });
  }

  onApplicationBootstrap(): void {
    if (!this.opts.enabled) return;
    this.timer = setInterval(() => this.kick(), this.opts.pollIntervalMs);
    this.timer.unref();
    this.kick();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
