// JetStream streams and durable consumers, declared in code and provisioned idempotently
// at boot: a missing stream/consumer is created, a drifted one is updated.
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamManager,
  RetentionPolicy,
  StorageType,
  StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { StreamKey, SubjectCatalog } from './subjects';

export interface StreamDef {
  key: StreamKey;
  /** Prefix-relative subject patterns. */
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  retention: 'limits' | 'workqueue';
}

const DAY = 86_400_000;
export const STREAMS: Record<StreamKey, StreamDef> = {
  CHAT_EVENTS: {
    key: 'CHAT_EVENTS',
    subjects: ['chat.events.>'],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 120_000,
    retention: 'limits',
  },
  // AI gateways' records (docs/aibridge-bus.md). The duplicate window must stay well above the
  // longest retry sequence of AibridgeRecorderClient (5 attempts × 5 s ack timeout + backoff by
  // default), so a retry of a publish that did land is dropped rather than stored twice.
  AIBRIDGE: {
    key: 'AIBRIDGE',
    subjects: ['aibridge.>'],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 120_000,
    retention: 'limits',
  },
  TELEMETRY: {
    key: 'TELEMETRY',
    subjects: ['telemetry.>'],
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 120_000,
    retention: 'limits',
  },
  DEAD_LETTERS: {
    key: 'DEAD_LETTERS',
    subjects: ['dlq.>'],
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 120_000,
    retention: 'limits',
  },
};

export interface ConsumerDef {
  stream: StreamKey;
  durable: string;
  /** Prefix-relative filter subject. */
  filter: string;
  /** Deliveries before the message is dead-lettered. */
  maxDeliver: number;
  ackWaitMs: number;
  /** Redelivery delays after a failure, by attempt (the last repeats). */
  backoffMs: number[];
  maxAckPending?: number;
  /**
   * Batch delivery: the handler (a JetStreamBatchHandler) gets up to `maxMessages` messages
   * at once, or those that arrived within `maxWaitMs` of the first. With `maxBytes`, a batch's
   * payloads add up to at most that many bytes (a single larger message is a batch of its
   * own), which bounds one transaction's size whatever the messages carry.
   */
  batch?: { maxMessages: number; maxWaitMs: number; maxBytes?: number };
}

function streamConfig(cat: SubjectCatalog, def: StreamDef): Partial<StreamConfig> & { name: string } {
  return {
    name: cat.streamName(def.key),
    subjects: def.subjects.map((s) => cat.absolute(s)),
    storage: StorageType.File,
    retention: def.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    max_age: nanos(def.maxAgeMs),
    duplicate_window: nanos(def.duplicateWindowMs),
    num_replicas: 1,
  };
}

function isNotFound(e: unknown): boolean {
  const err = e as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return (
    err?.api_error?.err_code === 10059 ||
    err?.api_error?.err_code === 10014 ||
    /not found/i.test(err?.message ?? '')
  );
}

export async function ensureStream(
  jsm: JetStreamManager,
  cat: SubjectCatalog,
  def: StreamDef,
): Promise<void> {
  const cfg = streamConfig(cat, def);
  try {
    const info = await jsm.streams.info(cfg.name);
    const c = info.config;
    const same =
      JSON.stringify([...c.subjects].sort()) === JSON.stringify([...(cfg.subjects ?? [])].sort()) &&
      c.max_age === cfg.max_age &&
      c.duplicate_window === cfg.duplicate_window;
    if (!same)
      await jsm.streams.update(cfg.name, {
        subjects: cfg.subjects,
        max_age: cfg.max_age,
        duplicate_window: cfg.duplicate_window,
      });
  } catch (e) {
    if (!isNotFound(e)) throw e;
    try {
      await jsm.streams.add(cfg);
    } catch (addErr) {
      // Another replica created it between our info and add: that is the idempotent outcome.
      if (!/already in use|already exists/i.test((addErr as Error).message)) throw addErr;
    }
  }
}

export async function ensureConsumer(
  jsm: JetStreamManager,
  cat: SubjectCatalog,
  def: ConsumerDef,
): Promise<void> {
  const stream = cat.streamName(def.stream);
  const cfg = {
    durable_name: def.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: cat.absolute(def.filter),
    ack_wait: nanos(def.ackWaitMs),
    // The consume loop decides dead-lettering itself (it must publish the error first), so the
    // server never gives up on a message: a delivery whose handler crashed, or whose
    // dead-lettering failed, comes back and is dead-lettered then.
    max_deliver: -1,
    max_ack_pending: def.maxAckPending ?? 1000,
  };
  try {
    const info = await jsm.consumers.info(stream, def.durable);
    const c = info.config;
    if (
      c.filter_subject !== cfg.filter_subject ||
      c.ack_wait !== cfg.ack_wait ||
      c.max_deliver !== cfg.max_deliver ||
      c.max_ack_pending !== cfg.max_ack_pending
    ) {
      await jsm.consumers.update(stream, def.durable, {
        filter_subject: cfg.filter_subject,
        ack_wait: cfg.ack_wait,
        max_deliver: cfg.max_deliver,
        max_ack_pending: cfg.max_ack_pending,
      });
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await jsm.consumers.add(stream, cfg);
  }
}
