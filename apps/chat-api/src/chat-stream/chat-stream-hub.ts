// This replica's view of `{p}.chat.{id}.stream`: one core NATS subscription per chat with
// open stream sockets (made when the first socket of the chat arrives, dropped with the
// last), each message decoded once and handed to every socket of the chat in arrival order;
// and the buffer request to the worker that owns the chat.
import { Inject, Injectable } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ChatBufferReply, ChatStreamEvent } from '@agentmesh/contracts';
import { BusRequestError, BusService, Subjects } from '@agentmesh/bus';
import { LOGGER } from '@agentmesh/observability';
import { streamFrames } from './frames';

/** One published message's events; its frames are encoded once for every socket that sends it whole. */
export class LiveBatch {
  private encoded?: string[];
  constructor(readonly events: readonly ChatStreamEvent[]) {}

  frames(): string[] {
    return (this.encoded ??= streamFrames(this.events));
  }
}

export type StreamListener = (batch: LiveBatch) => void;

interface ChatSubscription {
  sub: Subscription;
  listeners: Set<StreamListener>;
}

@Injectable()
export class ChatStreamHub {
  private readonly chats = new Map<string, ChatSubscription>();

  constructor(
    private readonly bus: BusService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Delivers the chat's live events to `listener` from now on. The subscription is in place
   * on the server before anything this connection sends afterwards (the buffer request).
   */
  listen(chatId: string, listener: StreamListener): () => void {
    let entry = this.chats.get(chatId);
    if (!entry) {
      const listeners = new Set<StreamListener>();
      const sub = this.bus.subscribe(
        Subjects.chatStream,
        (payload) => {
          if (!payload || !Array.isArray(payload.events) || payload.events.length === 0) return;
          const batch = new LiveBatch(payload.events);
          for (const l of [...listeners]) l(batch);
        },
        {
          args: [chatId],
          onError: (e, subject) => this.logger.warn({ err: e, subject }, 'bad chat stream message'),
        },
      );
      entry = { sub, listeners };
      this.chats.set(chatId, entry);
    }
    const current = entry;
    current.listeners.add(listener);
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0 && this.chats.get(chatId) === current) {
        this.chats.delete(chatId);
        current.sub.unsubscribe();
      }
    };
  }

  /** The owning worker's in-progress parts; undefined when no worker answers in time. */
  async requestBuffer(chatId: string, timeoutMs: number): Promise<ChatBufferReply | undefined> {
    try {
      const reply = await this.bus.request<ChatBufferReply>(Subjects.chatBuffer, { v: 1 }, timeoutMs, chatId);
      return reply && Array.isArray(reply.events) ? reply : undefined;
    } catch (e) {
      if (e instanceof BusRequestError) {
        if (e.kind === 'timeout')
          this.logger.debug({ chat_id: chatId }, 'chat buffer request timed out; no in-progress parts');
        return undefined;
      }
      throw e;
    }
  }
}
