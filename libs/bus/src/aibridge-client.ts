// The publisher AI gateways use to send AI Bridge records to the recorder (docs/aibridge-bus.md).
// Each record is validated with the contract's validator (an invalid one is refused before
// anything is published), then sent alone on its kind's subject or, with batching on, in a
// `{p}.aibridge.batch` message with others; every message carries a deterministic Nats-Msg-Id
// and is retried with the same id and bytes on transient failures, so a retry of a publish that
// had in fact landed is dropped by the stream. A record's promise resolves once the stream has
// acked the message that carried it and rejects if that message failed for good.
// It publishes on a connection it is given and never closes it: inside a Nest app that is the
// bus's connection (`aibridgeRecorderProvider()`), elsewhere any NatsConnection (`fromConnection`).
import { randomUUID } from 'node:crypto';
import type { BeforeApplicationShutdown, FactoryProvider } from '@nestjs/common';
import { RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, JetStreamApiError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import {
  AIBRIDGE_LIMITS,
  aibridgeMessageId,
  describeAibridgeProblems,
  isAibridgeKind,
  validateAibridgeRecord,
  type AibridgeInput,
  type AibridgeKind,
  type AibridgeProblem,
  type AibridgeRecord,
} from '@agentmesh/contracts';
import { Metrics } from '@agentmesh/observability';
import { headersWithTrace } from './codec';
import { NatsService } from './nats.service';
import { AibridgeSubjects, SubjectCatalog } from './subjects';

export interface AibridgeRetryPolicy {
  /** Attempts per message, the first included. */
  maxAttempts: number;
  /** Delay before the second attempt; it doubles for each further one. */
  initialDelayMs: number;
  /** Cap of the delay between attempts. */
  maxDelayMs: number;
}

export interface AibridgeRetryEvent {
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  error: unknown;
  subject: string;
  msgId: string;
  /** Records the message carries. */
  records: number;
}

/** Schedules the batch flush; tests pass their own to drive time. */
export interface AibridgeFlushTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface AibridgeRecorderOptions {
  /** Gather records into `{p}.aibridge.batch` messages (default true); off = one message per record. */
  batching?: boolean;
  /** A batch is sent as soon as it holds this many records (default 200, at most 500). */
  maxBatchRecords?: number;
  /** A batch is sent at the latest this long after its first record (default 10 ms). */
  flushIntervalMs?: number;
  /** Retries of transient failures (defaults: 5 attempts, 100 ms doubling to at most 2 s). */
  retry?: Partial<AibridgeRetryPolicy>;
  /** How long one attempt waits for the stream's ack (default 5000 ms). */
  publishTimeoutMs?: number;
  /**
   * Largest message the client sends. Default: the server's max_payload less 8 KiB of room for
   * headers. A batch is sent early rather than grow past it; a record that cannot fit alone is
   * refused.
   */
  maxMessageBytes?: number;
  /** Called before each retry (for logging); must not throw. */
  onRetry?: (event: AibridgeRetryEvent) => void;
  timer?: AibridgeFlushTimer;
}

/** What a record's promise resolves with: the ack of the message that carried it. */
export interface AibridgeAck {
  stream: string;
  seq: number;
  /** True when the stream already had a message with this id (a repeat inside its window). */
  duplicate: boolean;
  msgId: string;
}

/** What the client publishes through: NatsService fits, so does `fromConnection`'s wrapper. */
export interface AibridgeTransport {
  readonly catalog: SubjectCatalog;
  readonly nc: NatsConnection;
  js(): JetStreamClient;
}

/** The record breaks the contract; nothing was published. */
export class AibridgeValidationError extends Error {
  constructor(
    readonly kind: string,
    readonly problems: AibridgeProblem[],
  ) {
    super(`invalid aibridge ${kind} record: ${describeAibridgeProblems(problems)}`);
    this.name = 'AibridgeValidationError';
  }
}

/** The message carrying the record could not be stored (after the retries, if the failure was transient). */
export class AibridgePublishError extends Error {
  constructor(
    readonly msgId: string,
    readonly subject: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      `publishing ${msgId} on ${subject} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${
        (cause as Error)?.message ?? String(cause)
      }`,
      { cause },
    );
    this.name = 'AibridgePublishError';
  }
}

export class AibridgeClientClosedError extends Error {
  constructor() {
    super('the aibridge recorder client is closed');
    this.name = 'AibridgeClientClosedError';
  }
}

/**
 * Whether retrying can help: the ack timed out (the message may or may not have landed: the
 * retry's message id settles it), nobody answered (the stream is not there yet, or JetStream
 * is electing a leader), or the server is temporarily unable to store. Anything else (closed
 * connection, message too large, wrong stream, permissions) fails at once.
 */
export function isTransientPublishError(e: unknown): boolean {
  if (e instanceof TimeoutError) return true;
  if (e instanceof RequestError) return e.isNoResponders();
  const err = e as { name?: string; cause?: unknown } | null;
  if (err?.name === 'JetStreamNotEnabled' && err.cause instanceof RequestError)
    return err.cause.isNoResponders();
  if (e instanceof JetStreamApiError) return e.status === 503 || e.status === 408 || e.status === 429;
  return false;
}

const DEFAULTS = {
  batching: true,
  maxBatchRecords: 200,
  flushIntervalMs: 10,
  publishTimeoutMs: 5000,
  retry: { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 2000 } satisfies AibridgeRetryPolicy,
};
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const HEADER_ROOM = 8 * 1024;
/** `{"v":1,"id":"<uuid>","records":[]}` */
const BATCH_ENVELOPE_BYTES = 64;

const realTimer: AibridgeFlushTimer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Waiter {
  resolve(ack: AibridgeAck): void;
  reject(e: unknown): void;
}

interface Pending {
  record: AibridgeRecord;
  /** The record as it appears inside a batch (`{"kind":…}`). */
  json: string;
  bytes: number;
  /** The callers of this record (the same record recorded again while pending joins it). */
  waiters: Waiter[];
}

function positiveInt(name: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < 1 || v > max)
    throw new RangeError(`${name} must be an integer in 1..${max}, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  return v;
}

export class AibridgeRecorderClient implements BeforeApplicationShutdown {
  private readonly batching: boolean;
  private readonly maxBatchRecords: number;
  private readonly flushIntervalMs: number;
  private readonly publishTimeoutMs: number;
  private readonly retry: AibridgeRetryPolicy;
  private readonly timer: AibridgeFlushTimer;
  private readonly streamName: string;

  private pending = new Map<string, Pending>();
  private pendingBytes = 0;
  private flushHandle?: unknown;
  private readonly inFlight = new Set<Promise<void>>();
  private closing?: Promise<void>;

  private readonly published?: ReturnType<Metrics['counter']>;
  private readonly recordsTotal?: ReturnType<Metrics['counter']>;
  private readonly retries?: ReturnType<Metrics['counter']>;

  constructor(
    private readonly transport: AibridgeTransport,
    private readonly opts: AibridgeRecorderOptions = {},
    metrics?: Metrics,
  ) {
    this.batching = opts.batching ?? DEFAULTS.batching;
    this.maxBatchRecords = positiveInt(
      'maxBatchRecords',
      opts.maxBatchRecords ?? DEFAULTS.maxBatchRecords,
      AIBRIDGE_LIMITS.maxBatchRecords,
    );
    this.flushIntervalMs = nonNegative('flushIntervalMs', opts.flushIntervalMs ?? DEFAULTS.flushIntervalMs);
    this.publishTimeoutMs = positiveInt(
      'publishTimeoutMs',
      opts.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs,
    );
    const retry = { ...DEFAULTS.retry, ...opts.retry };
    this.retry = {
      maxAttempts: positiveInt('retry.maxAttempts', retry.maxAttempts, 100),
      initialDelayMs: nonNegative('retry.initialDelayMs', retry.initialDelayMs),
      maxDelayMs: nonNegative('retry.maxDelayMs', retry.maxDelayMs),
    };
    if (opts.maxMessageBytes !== undefined) positiveInt('maxMessageBytes', opts.maxMessageBytes);
    this.timer = opts.timer ?? realTimer;
    this.streamName = transport.catalog.streamName('AIBRIDGE');
    if (metrics) {
      this.published = metrics.counter('bus_published_total', 'Messages published', ['subject', 'transport']);
      this.recordsTotal = metrics.counter('aibridge_client_records_total', 'AI Bridge records by outcome', [
        'kind',
        'outcome',
      ]);
      this.retries = metrics.counter(
        'aibridge_client_publish_retries_total',
        'AI Bridge publish attempts retried',
      );
    }
  }

  /** A client publishing on `nc` (which it never closes) under the deployment's subject prefix. */
  static fromConnection(
    nc: NatsConnection,
    prefix: string,
    opts: AibridgeRecorderOptions = {},
    metrics?: Metrics,
  ): AibridgeRecorderClient {
    const js = jetstream(nc);
    return new AibridgeRecorderClient(
      { nc, catalog: new SubjectCatalog(prefix), js: () => js },
      opts,
      metrics,
    );
  }

  recordInterceptionStarted(rec: AibridgeInput<'interception.started'>): Promise<AibridgeAck> {
    return this.record('interception.started', rec);
  }

  recordInterceptionEnded(rec: AibridgeInput<'interception.ended'>): Promise<AibridgeAck> {
    return this.record('interception.ended', rec);
  }

  recordTokenUsage(rec: AibridgeInput<'usage.token'>): Promise<AibridgeAck> {
    return this.record('usage.token', rec);
  }

  recordPromptUsage(rec: AibridgeInput<'usage.prompt'>): Promise<AibridgeAck> {
    return this.record('usage.prompt', rec);
  }

  recordToolUsage(rec: AibridgeInput<'usage.tool'>): Promise<AibridgeAck> {
    return this.record('usage.tool', rec);
  }

  recordModelThought(rec: AibridgeInput<'usage.thought'>): Promise<AibridgeAck> {
    return this.record('usage.thought', rec);
  }

  /**
   * Validates and sends one record. Resolves when the stream acked the message carrying it;
   * rejects with AibridgeValidationError (nothing published), AibridgePublishError (the
   * message failed for good) or AibridgeClientClosedError. Await or catch every promise.
   */
  record<K extends AibridgeKind>(kind: K, rec: AibridgeInput<K>): Promise<AibridgeAck> {
    if (this.closing) return Promise.reject(new AibridgeClientClosedError());
    const v = validateAibridgeRecord(kind, rec);
    if (!v.ok) return this.refuse(kind, v.problems);
    const record = v.record as AibridgeRecord;
    const json = JSON.stringify(record);
    const bytes = Buffer.byteLength(json, 'utf8');
    const limit = this.maxMessageBytes();
    if (bytes + BATCH_ENVELOPE_BYTES > limit) {
      return this.refuse(kind, [
        {
          field: '(record)',
          detail: `is ${bytes} bytes as JSON, more than a message may hold (${limit} bytes)`,
        },
      ]);
    }
    return new Promise<AibridgeAck>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (!this.batching) {
        this.send([{ record, json, bytes, waiters: [waiter] }]);
        return;
      }
      const key = aibridgeMessageId(record.kind, record.id);
      const same = this.pending.get(key);
      if (same) {
        // Recorded again before it went out: one copy is enough, both callers learn its fate.
        same.waiters.push(waiter);
        return;
      }
      if (this.pending.size > 0 && this.batchBytes(bytes) > limit) this.flushPending();
      this.pending.set(key, { record, json, bytes, waiters: [waiter] });
      this.pendingBytes += bytes;
      if (this.pending.size >= this.maxBatchRecords) this.flushPending();
      else if (this.flushHandle === undefined)
        this.flushHandle = this.timer.set(() => {
          this.flushHandle = undefined;
          this.flushPending();
        }, this.flushIntervalMs);
    });
  }

  /** Sends what is gathered now and resolves when every message in flight has settled. */
  async flush(): Promise<void> {
    this.flushPending();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Refuses new records, then flushes. The connection stays open (it is not the client's). */
  close(): Promise<void> {
    this.closing ??= this.flush();
    return this.closing;
  }

  /** Nest: flush before the bus drains its connection. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private refuse(kind: string, problems: AibridgeProblem[]): Promise<never> {
    this.recordsTotal?.labels(isAibridgeKind(kind) ? kind : 'unknown', 'invalid').inc();
    return Promise.reject(new AibridgeValidationError(kind, problems));
  }

  private maxMessageBytes(): number {
    if (this.opts.maxMessageBytes !== undefined) return this.opts.maxMessageBytes;
    let max = DEFAULT_MAX_PAYLOAD;
    try {
      max = this.transport.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    } catch {
      // Not connected yet: the server default.
    }
    return max - HEADER_ROOM;
  }

  /** Size of the pending batch with one more record of `bytes`. */
  private batchBytes(bytes: number): number {
    return BATCH_ENVELOPE_BYTES + this.pendingBytes + bytes + this.pending.size;
  }

  private flushPending(): void {
    if (this.flushHandle !== undefined) {
      this.timer.clear(this.flushHandle);
      this.flushHandle = undefined;
    }
    if (this.pending.size === 0) return;
    const entries = [...this.pending.values()];
    this.pending = new Map();
    this.pendingBytes = 0;
    this.send(entries);
  }

  /** Publishes the entries as one message: alone on the kind's subject, or as a batch. */
  private send(entries: Pending[]): void {
    let subject: string;
    let msgId: string;
    let body: string;
    let key: string;
    if (entries.length === 1) {
      const { kind, ...fields } = entries[0].record;
      key = AibridgeSubjects[kind].key;
      subject = this.transport.catalog.subject(AibridgeSubjects[kind]);
      msgId = aibridgeMessageId(kind, fields.id);
      body = JSON.stringify({ v: 1, ...fields });
    } else {
      const id = randomUUID();
      key = AibridgeSubjects.batch.key;
      subject = this.transport.catalog.subject(AibridgeSubjects.batch);
      msgId = aibridgeMessageId('batch', id);
      body = `{"v":1,"id":"${id}","records":[${entries.map((e) => e.json).join(',')}]}`;
    }
    const data = Buffer.from(body, 'utf8');
    const settle = (outcome: 'acked' | 'failed', each: (w: Waiter) => void) => {
      for (const e of entries) {
        this.recordsTotal?.labels(e.record.kind, outcome).inc();
        e.waiters.forEach(each);
      }
    };
    const running: Promise<void> = this.publishWithRetry(subject, key, data, msgId, entries.length)
      .then(
        (ack) => {
          const result: AibridgeAck = { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, msgId };
          settle('acked', (w) => w.resolve(result));
        },
        (err) => settle('failed', (w) => w.reject(err)),
      )
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  private async publishWithRetry(
    subject: string,
    key: string,
    data: Uint8Array,
    msgId: string,
    records: number,
  ): Promise<PubAck> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.transport.js().publish(subject, data, {
          msgID: msgId,
          headers: headersWithTrace(),
          timeout: this.publishTimeoutMs,
          // A stream other than this deployment's AIBRIDGE capturing the subject is a
          // misconfiguration: fail rather than store the record where the recorder never looks.
          expect: { streamName: this.streamName },
        });
        this.published?.labels(key, 'jetstream').inc();
        return ack;
      } catch (e) {
        if (attempt >= this.retry.maxAttempts || !isTransientPublishError(e))
          throw new AibridgePublishError(msgId, subject, attempt, e);
        const base = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (attempt - 1));
        // Jitter (50–100% of the delay) so gateways failing together do not retry in lockstep.
        const delayMs = Math.round(base * (0.5 + Math.random() / 2));
        this.retries?.inc();
        try {
          this.opts.onRetry?.({ attempt, delayMs, error: e, subject, msgId, records });
        } catch {
          // A logging hook must not change the outcome.
        }
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }
}

/**
 * The client as a Nest provider, publishing on the bus's connection (list `AIBRIDGE` in the
 * app's `BusModule.forRoot({ streams })` so the stream is provisioned). Nest closes it (flushing
 * what is gathered) before the bus drains the connection.
 */
export function aibridgeRecorderProvider(
  opts: AibridgeRecorderOptions = {},
): FactoryProvider<AibridgeRecorderClient> {
  return {
    provide: AibridgeRecorderClient,
    inject: [NatsService, Metrics],
    useFactory: (nats: NatsService, metrics: Metrics) => new AibridgeRecorderClient(nats, opts, metrics),
  };
}
