// The consume loop of one durable pull consumer. A message is acked only after its handler
// resolved (handlers commit their transaction before resolving); a failure naks it with the
// consumer's backoff; once it has failed maxDeliver times, or cannot be decoded at all, it is
// published to the dead-letter stream with the error and then acked, so it never blocks
// the stream and is never silently lost.
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

/** Throw from a handler when retrying cannot help (invalid payload): dead-letters at once. */
export class PermanentMessageError extends Error {}

export class ConsumerRunner {
  private stopRequested = false;
  private failing?: string;
  private loop?: Promise<void>;
  private messages?: { stop(): void; close(): Promise<void | Error> };
  private readonly processed;
  private readonly deadLetters;

  constructor(
    private readonly nats: NatsService,
    private readonly def: ConsumerDef,
    private readonly handler: JetStreamHandler,
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
        const messages = await consumer.consume({ max_messages: 64, abort_on_missing_resource: true });
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
          else await this.handleOne(m);
        }
        if (!this.stopRequested) throw new Error('message iterator ended unexpectedly');
      } catch (e) {
        this.messages?.stop();
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

  async handleOne(m: JsMsg): Promise<void> {
    const deliveries = m.info.deliveryCount;
    const carrier = headersToCarrier(m.headers);
    try {
      if (deliveries > this.def.maxDeliver) {
        throw new PermanentMessageError(
          `delivered ${deliveries} times without completing (handler crashed or timed out)`,
        );
      }
      const payload = decodeJson(m.data);
      await withSpanFrom(`consume ${this.def.durable}`, carrier, SpanKind.CONSUMER, () =>
        this.handler(payload, {
          subject: m.subject,
          headers: carrier,
          streamSeq: m.seq,
          deliveryCount: deliveries,
          working: () => m.working(),
        }),
      );
    } catch (e) {
      await this.onFailure(m, e as Error);
      return;
    }
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
