// Typed publish, subscribe and request/reply over core NATS, and JetStream publishing with
// a deterministic Nats-Msg-Id (the server drops a duplicate inside the stream's window).
import { Injectable } from '@nestjs/common';
import { Msg, NoRespondersError, Subscription, TimeoutError } from '@nats-io/transport-node';
import type { PubAck } from '@nats-io/jetstream';
import { SpanKind } from '@opentelemetry/api';
import { Metrics, withSpanFrom } from '@agentmesh/observability';
import { decodeJson, encodeJson, headersToCarrier, headersWithTrace } from './codec';
import { NatsService } from './nats.service';
import { AnySubject, ArgsOf, PayloadOf } from './subjects';

export class BusRequestError extends Error {
  constructor(
    readonly kind: 'timeout' | 'no_responders',
    subject: string,
  ) {
    super(kind === 'timeout' ? `request on ${subject} timed out` : `no responders on ${subject}`);
  }
}

export interface MessageMeta {
  subject: string;
  headers: Record<string, string>;
  /** Present on request/reply messages: answer with `reply()`. */
  reply?: (payload: unknown) => void;
}

@Injectable()
export class BusService {
  private readonly published;
  /** Core-NATS handlers still running (shutdown waits for them before closing Postgres). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly nats: NatsService,
    metrics: Metrics,
  ) {
    this.published = metrics.counter('bus_published_total', 'Messages published', ['subject', 'transport']);
  }

  get catalog() {
    return this.nats.catalog;
  }

  /** Resolves when every core-NATS handler started so far has finished. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Core NATS publish (fire and forget: a signal, never the only record of anything). */
  publish<S extends AnySubject>(spec: S, payload: PayloadOf<S>, ...args: ArgsOf<S>): void {
    const subject = this.catalog.subject(spec, ...args);
    this.nats.nc.publish(subject, encodeJson(payload), { headers: headersWithTrace() });
    this.published.labels(spec.key, 'core').inc();
  }

  /** JetStream publish; resolves with the stream ack (duplicate = already stored). */
  async publishDurable<S extends AnySubject>(
    spec: S,
    payload: PayloadOf<S>,
    msgId: string,
    ...args: ArgsOf<S>
  ): Promise<PubAck> {
    return this.publishRawDurable(
      this.catalog.subject(spec, ...args),
      encodeJson(payload),
      msgId,
      {},
      spec.key,
    );
  }

  async publishRawDurable(
    subject: string,
    data: Uint8Array,
    msgId: string,
    extraHeaders: Record<string, string> = {},
    key = 'raw',
  ): Promise<PubAck> {
    const ack = await this.nats
      .js()
      .publish(subject, data, { msgID: msgId, headers: headersWithTrace(extraHeaders), timeout: 5000 });
    this.published.labels(key, 'jetstream').inc();
    return ack;
  }

  /** Request/reply with a timeout; rejects with BusRequestError on timeout or no responders. */
  async request<R, S extends AnySubject = AnySubject>(
    spec: S,
    payload: PayloadOf<S>,
    timeoutMs: number,
    ...args: ArgsOf<S>
  ): Promise<R> {
    const subject = this.catalog.subject(spec, ...args);
    try {
      const msg = await this.nats.nc.request(subject, encodeJson(payload), {
        timeout: timeoutMs,
        headers: headersWithTrace(),
      });
      return decodeJson<R>(msg.data);
    } catch (e) {
      if (e instanceof TimeoutError || (e as Error).name === 'TimeoutError')
        throw new BusRequestError('timeout', subject);
      if (e instanceof NoRespondersError || (e as Error)?.cause instanceof NoRespondersError)
        throw new BusRequestError('no_responders', subject);
      throw e;
    }
  }

  /**
   * Subscribes to every concrete subject of `spec` (optionally in a queue group, so one member
   * of the group gets each message). Handler errors are logged by the caller's handler wrapper.
   */
  subscribe<S extends AnySubject>(
    spec: S,
    handler: (payload: PayloadOf<S>, meta: MessageMeta) => Promise<void> | void,
    opts: { queue?: string; onError?: (e: unknown, subject: string) => void; args?: ArgsOf<S> } = {},
  ): Subscription {
    // With `args`, one concrete subject (e.g. one chat's buffer); otherwise every subject of the spec.
    const pattern = opts.args
      ? this.catalog.subject(spec as AnySubject, ...(opts.args as string[]))
      : this.catalog.pattern(spec);
    return this.nats.nc.subscribe(pattern, {
      queue: opts.queue,
      callback: (err, msg: Msg) => {
        if (err) {
          opts.onError?.(err, pattern);
          return;
        }
        const carrier = headersToCarrier(msg.headers);
        const running: Promise<void> = withSpanFrom(
          `nats ${spec.key}`,
          carrier,
          SpanKind.CONSUMER,
          async () => {
            const payload = decodeJson<PayloadOf<S>>(msg.data);
            await handler(payload, {
              subject: msg.subject,
              headers: carrier,
              reply: msg.reply ? (p) => msg.respond(encodeJson(p)) : undefined,
            });
          },
        )
          .catch((e) => opts.onError?.(e, msg.subject))
          .finally(() => this.inFlight.delete(running));
        this.inFlight.add(running);
      },
    });
  }
}
