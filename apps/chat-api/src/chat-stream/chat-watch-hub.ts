// This replica's view of one owner's lifecycle events: a core NATS subscription on
// `{p}.chat.events.{owner_id}.*` per owner with open watch sockets (JetStream stores every
// publish on those subjects, and a plain subscription sees the same publishes live). The
// outbox relay may publish a row again after a failed ack; JetStream drops that by its
// Nats-Msg-Id, and so does this hub (the last ids seen are remembered) so sockets get each
// event once. Each event is encoded once for all of the owner's sockets.
import { Inject, Injectable } from '@nestjs/common';
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ChatLifecycleEvent } from '@agentmesh/contracts';
import { decodeJson, NatsService, SubjectCatalog, Subjects } from '@agentmesh/bus';
import { LOGGER } from '@agentmesh/observability';
import { watchFrame } from './frames';

/** How many recent message ids an owner's subscription remembers to drop re-publishes. */
const RECENT_IDS = 1024;

/** A frame (encoded once for every listener) and the chat it is about. */
export type WatchListener = (frame: string, chat: ChatLifecycleEvent['chat']) => void;

interface OwnerSubscription {
  sub: Subscription;
  listeners: Set<WatchListener>;
  recent: Set<string>;
}

/** `{p}.chat.events.{owner_id}.*`: every chat of one owner. */
export function ownerEventsSubject(catalog: SubjectCatalog, ownerId: string): string {
  const probe = '_';
  const one = catalog.subject(Subjects.chatEvents, ownerId, probe);
  if (!one.endsWith(`.${probe}`)) throw new Error(`unexpected chat events subject ${one}`);
  return `${one.slice(0, -probe.length)}*`;
}

@Injectable()
export class ChatWatchHub {
  private readonly owners = new Map<string, OwnerSubscription>();

  constructor(
    private readonly nats: NatsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  listen(ownerId: string, listener: WatchListener): () => void {
    let entry = this.owners.get(ownerId);
    if (!entry) {
      const listeners = new Set<WatchListener>();
      const recent = new Set<string>();
      const subject = ownerEventsSubject(this.nats.catalog, ownerId);
      const sub = this.nats.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ err, subject }, 'chat watch subscription failed');
            return;
          }
          const decoded = this.decode(msg, recent);
          if (decoded) for (const l of [...listeners]) l(decoded.frame, decoded.chat);
        },
      });
      entry = { sub, listeners, recent };
      this.owners.set(ownerId, entry);
    }
    const current = entry;
    current.listeners.add(listener);
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0 && this.owners.get(ownerId) === current) {
        this.owners.delete(ownerId);
        current.sub.unsubscribe();
      }
    };
  }

  /** The frame of a message; undefined for a re-publish or a malformed payload. */
  private decode(
    msg: Msg,
    recent: Set<string>,
  ): { frame: string; chat: ChatLifecycleEvent['chat'] } | undefined {
    const id = msg.headers?.get('Nats-Msg-Id');
    if (id) {
      if (recent.has(id)) return undefined;
      recent.add(id);
      if (recent.size > RECENT_IDS) recent.delete(recent.values().next().value as string);
    }
    try {
      const payload = decodeJson<ChatLifecycleEvent>(msg.data);
      if (!payload || typeof payload.kind !== 'string' || !payload.chat) throw new Error('not a chat event');
      return { frame: watchFrame(payload), chat: payload.chat };
    } catch (e) {
      this.logger.warn({ err: e, subject: msg.subject }, 'bad chat lifecycle event');
      return undefined;
    }
  }
}
