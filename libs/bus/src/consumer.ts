// The consume loop of one durable pull consumer. A message is acked only after its handler
// resolved (handlers commit their transaction before resolving); a failure naks it with the
// consumer's backoff; once it has failed maxDeliver times, or cannot be decoded at all, it is
// published to the dead-letter stream with the error and then acked, so it never blocks
// the stream and is never silently lost.
// A consumer declared with `batch` hands its handler up to `maxMessages` messages at once
// (or what arrived within `maxWaitMs` of the first, or as many as add up to `maxBytes`), so it
// can commit them in one transaction; they are acked after the handler resolved. When a whole batch fails, each
// message is retried alone, so one bad message cannot hold the others back.
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { SpanKind } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { DeadLetter } from '@agentmesh/contracts';
import { Metrics, withSpanFrom } from '@agentmesh/observability';
import { decodeJson, encodeJson, headersToCarrier, PayloadDecodeError } from './codec';
import { NatsService } from './nats.service';
import { ConsumerDef } from './streams';
import { Subjects } from './subjects';

export interface DeliveryMeta {
  subject: string;
  headers: Record<string, string>;
  streamSeq: number;
  deliveryCount: number;
  /** Tell the server the handler is still working (extends the ack deadline). */
  working(): void;
}

const HAND_BACK_DELAY_MS = 1000;
const RESTART_DELAY_MS = 1000;

export type JetStreamHandler = (payload: unknown, meta: DeliveryMeta) => Promise<void>;

export interface BatchItem {
  payload: unknown;
  meta: DeliveryMeta;
}

/**
 * A batch consumer's handler. It resolves after committing, with one entry per item:
 * undefined when the item is done, a RetryLater to have it redelivered later, or the error
 * that makes it permanently unprocessable (it is dead-lettered). Throwing fails the whole
 * batch (each item is then retried alone).
 */
export type JetStreamBatchHandler = (items: BatchItem[]) => Promise<(Error | undefined)[]>;

/** Throw from a handler when retrying cannot help (invalid payload): dead-letters at once. */
export class PermanentMessageError extends Error {}

/**
 * A batch handler's result for an item that cannot be done yet (it depends on a message
 * still to come): the message is redelivered after the consumer's backoff, and dead-lettered
 * with this message once it has been tried maxDeliver times.
 */
export class RetryLater extends Error {}

/**
 * Thrown by a batch handler when what it depends on is unavailable (its database): every
 * message of the batch is redelivered after the backoff, without retrying them one by one.
 */
export class TransientBatchError extends Error {}

export class ConsumerRunner {
  private stopRequested = false;
  private failing?: string;
  private loop?: Promise<void>;
  private messages?: { stop(): void; close(): Promise<void | Error> };
  private readonly processed;
  private readonly deadLetters;
  private readonly batchSizes;
  /**
   * Batch mode: at most one batch runs while the next one fills. `buffer` is the filling
   * batch, `running` the one in the handler; `flushDue` says the filling batch's wait ran out
   * while another was running (it starts as soon as that one ends).
   */
  private buffer: JsMsg[] = [];
  private bufferBytes = 0;
  private flushTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private flushDue = false;

  constructor(
    private readonly nats: NatsService,
    private readonly def: ConsumerDef,
    private readonly handler: JetStreamHandler | JetStreamBatchHandler,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.processed = metrics.counter('consumer_messages_total', 'JetStream messages handled', [
      'consumer',
      'outcome',
    ]);
    this.deadLetters = metrics.counter('dead_letters_total', 'Messages moved to the dead-letter stream', [
      'consumer',
    ]);
    this.batchSizes = metrics.histogram(
      'consumer_batch_size',
      'Messages handed to a batch consumer handler at once',
      ['consumer'],
      [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    );
  }

  /** Fails fast when the consumer does not exist; then consumes until stop(). */
  async start(): Promise<void> {
    const stream = this.nats.catalog.streamName(this.def.stream);
    const consumer = await this.nats.js().consumers.get(stream, this.def.durable);
    this.loop = this.run(consumer);
  }

  /** False while the consume loop is failing and restarting (readiness reports it). */
  get healthy(): boolean {
    return this.failing === undefined;
  }

  get failure(): string | undefined {
    return this.failing;
  }

  /** Consumes, and restarts the subscription (after a pause) if it ever breaks. */
  private async run(consumer: Consumer): Promise<void> {
    while (!this.stopRequested) {
      try {
        // Abort (instead of silently waiting) when the consumer or its stream disappears, so
        // the loop restarts and readiness reports the problem meanwhile.
        const messages = await consumer.consume({
          max_messages: Math.max(64, 2 * (this.def.batch?.maxMessages ?? 0)),
          abort_on_missing_resource: true,
        });
        this.messages = messages;
        if (this.stopRequested) {
          messages.stop();
          return;
        }
        // consume() does not contact the server: only clear the failure once it answers.
        await consumer.info();
        this.failing = undefined;
        for await (const m of messages) {
          // Messages pulled ahead but not started when we stop go back to the stream at once
          // (after a short delay, so the server does not hand them straight back to us).
          if (this.stopRequested) m.nak(HAND_BACK_DELAY_MS);
          else if (this.def.batch) await this.enqueue(m, this.def.batch);
          else await this.handleOne(m);
        }
        // Messages already in a batch are in hand: finish them.
        await this.flush();
        if (!this.stopRequested) throw new Error('message iterator ended unexpectedly');
      } catch (e) {
        this.messages?.stop();
        await this.flush();
        if (this.stopRequested) return;
        this.failing = (e as Error).message;
        this.logger.error({ err: e, consumer: this.def.durable }, 'consumer loop failed; restarting');
        await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
      }
    }
  }

  /** Stops pulling, hands back what was pulled ahead, and waits for the message in hand. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.messages?.stop();
    await this.loop;
  }

  /**
   * Batch mode: adds a message to the filling batch. A full batch (by messages or bytes)
   * waits for the running one to end (backpressure: the loop pulls nothing meanwhile), then
   * starts; a partial batch starts once its wait ran out and no batch is running.
   */
  private async enqueue(m: JsMsg, batch: NonNullable<ConsumerDef['batch']>): Promise<void> {
    if (
      batch.maxBytes !== undefined &&
      this.buffer.length > 0 &&
      this.bufferBytes + m.data.length > batch.maxBytes
    ) {
      // This message would take the filling batch past its byte budget: start that batch first.
      while (this.running) await this.running;
      this.startBatch();
    }
    this.buffer.push(m);
    this.bufferBytes += m.data.length;
    if (this.bufferFull()) {
      while (this.running) await this.running;
      this.startBatch();
    } else {
      this.flushTimer ??= setTimeout(() => {
        this.flushTimer = undefined;
        if (this.running) this.flushDue = true;
        else this.startBatch();
      }, batch.maxWaitMs);
    }
  }

  /** Starts the filling batch (no batch may be running). */
  private startBatch(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushDue = false;
    const taken = this.buffer;
    this.buffer = [];
    this.bufferBytes = 0;
    if (taken.length === 0) return;
    this.running = this.handleBatch(taken)
      .catch((e: unknown) =>
        this.logger.error({ err: e, consumer: this.def.durable }, 'batch handling failed'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.flushDue || this.bufferFull()) this.startBatch();
      });
  }

  /** The filling batch has as many messages, or as many payload bytes, as a batch may hold. */
  private bufferFull(): boolean {
    const batch = this.def.batch;
    if (!batch) return this.buffer.length > 0;
    return (
      this.buffer.length >= batch.maxMessages ||
      (batch.maxBytes !== undefined && this.bufferBytes >= batch.maxBytes)
    );
  }

  /** Finishes the running batch and the filling one (the loop ended: they are in hand). */
  private async flush(): Promise<void> {
    while (this.running) await this.running;
    this.startBatch();
    while (this.running) await this.running;
  }

  /** One batch: undecodable messages are dead-lettered, the rest go to the handler together. */
  private async handleBatch(msgs: JsMsg[]): Promise<void> {
    const decoded: { m: JsMsg; item: BatchItem }[] = [];
    for (const m of msgs) {
      try {
        if (m.info.deliveryCount > this.def.maxDeliver)
          throw new PermanentMessageError(
            `delivered ${m.info.deliveryCount} times without completing (handler crashed or timed out)`,
          );
        decoded.push({ m, item: { payload: decodeJson(m.data), meta: this.metaOf(m) } });
      } catch (e) {
        await this.onFailure(m, e as Error);
      }
    }
    if (decoded.length === 0) return;
    this.batchSizes.labels(this.def.durable).observe(decoded.length);
    const handler = this.handler as JetStreamBatchHandler;
    let results: (Error | undefined)[];
    try {
      results = await withSpanFrom(
        `consume ${this.def.durable} batch`,
        decoded[0].item.meta.headers,
        SpanKind.CONSUMER,
        () => handler(decoded.map((d) => d.item)),
      );
      if (!Array.isArray(results) || results.length !== decoded.length)
        throw new Error(
          `batch handler returned ${Array.isArray(results) ? results.length : typeof results} results for ${decoded.length} messages`,
        );
    } catch (e) {
      if (decoded.length === 1 || e instanceof TransientBatchError) {
        // One message, or a failure of what the handler depends on (its database): retrying
        // the messages one by one would only fail each again.
        for (const d of decoded) await this.onFailure(d.m, e as Error);
        return;
      }
      this.logger.warn(
        { err: e, consumer: this.def.durable, size: decoded.length },
        'batch failed; retrying its messages one by one',
      );
      for (const d of decoded) await this.handleBatch([d.m]);
      return;
    }
    // Acks are pipelined (one round trip for the batch, not one per message).
    const acks: Promise<void>[] = [];
    for (const [i, d] of decoded.entries()) {
      const failure = results[i];
      if (failure instanceof RetryLater) await this.onFailure(d.m, failure);
      else if (failure) await this.onFailure(d.m, new PermanentMessageError(failure.message));
      else acks.push(this.ack(d.m));
    }
    await Promise.all(acks);
  }

  private metaOf(m: JsMsg): DeliveryMeta {
    return {
      subject: m.subject,
      headers: headersToCarrier(m.headers),
      streamSeq: m.seq,
      deliveryCount: m.info.deliveryCount,
      working: () => m.working(),
    };
  }

  private async ack(m: JsMsg): Promise<void> {
    try {
      await m.ackAck();
      this.processed.labels(this.def.durable, 'ok').inc();
    } catch (e) {
      // The work is committed; the message will be redelivered and the idempotent handler
      // will find nothing to do. Not a handler failure: no retry count, no dead letter.
      this.logger.warn(
        { err: e, consumer: this.def.durable, seq: m.seq },
        'ack failed after the handler committed',
      );
    }
  }

  async handleOne(m: JsMsg): Promise<void> {
    const deliveries = m.info.deliveryCount;
    const meta = this.metaOf(m);
    try {
      if (deliveries > this.def.maxDeliver) {
        throw new PermanentMessageError(
          `delivered ${deliveries} times without completing (handler crashed or timed out)`,
        );
      }
      const payload = decodeJson(m.data);
      const handler = this.handler as JetStreamHandler;
      await withSpanFrom(`consume ${this.def.durable}`, meta.headers, SpanKind.CONSUMER, () =>
        handler(payload, meta),
      );
    } catch (e) {
      await this.onFailure(m, e as Error);
      return;
    }
    await this.ack(m);
  }

  private async onFailure(m: JsMsg, e: Error): Promise<void> {
    const deliveries = m.info.deliveryCount;
    const permanent = e instanceof PermanentMessageError || e instanceof PayloadDecodeError;
    if (permanent || deliveries >= this.def.maxDeliver) {
      await this.deadLetter(m, e);
      return;
    }
    const delay = this.def.backoffMs[Math.min(deliveries - 1, this.def.backoffMs.length - 1)] ?? 1000;
    m.nak(delay);
    this.processed.labels(this.def.durable, 'retry').inc();
    this.logger.warn(
      { err: e, consumer: this.def.durable, subject: m.subject, deliveries, retry_in_ms: delay },
      'message handler failed; will retry',
    );
  }

  private async deadLetter(m: JsMsg, error: Error): Promise<void> {
    const streamKey = this.def.stream;
    const letter: DeadLetter = {
      v: 1,
      stream: this.nats.catalog.streamName(streamKey),
      consumer: this.def.durable,
      subject: m.subject,
      stream_seq: m.seq,
      deliveries: m.info.deliveryCount,
      error: error.message,
      failed_at: new Date().toISOString(),
      data_b64: Buffer.from(m.data).toString('base64'),
    };
    const subject = this.nats.catalog.subject(Subjects.deadLetter, streamKey);
    try {
      await this.nats
        .js()
        .publish(subject, encodeJson(letter), { msgID: `dlq:${letter.stream}:${this.def.durable}:${m.seq}` });
      await m.ackAck();
      this.deadLetters.labels(this.def.durable).inc();
      this.processed.labels(this.def.durable, 'dead_letter').inc();
      this.logger.error(
        { consumer: this.def.durable, subject: m.subject, seq: m.seq, error: error.message },
        'message moved to dead-letter stream',
      );
    } catch (e) {
      // Could not record the failure: leave the message for redelivery rather than lose it.
      m.nak(5000);
      this.logger.error(
        { err: e, consumer: this.def.durable },
        'dead-lettering failed; message will be redelivered',
      );
    }
  }
}
