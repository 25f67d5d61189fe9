// GET /chats/{chat}/stream after the upgrade (the route has authenticated, authorized and
// validated `after_id` already). The connect sequence, in this order:
//   1. subscribe to the chat's live events (kept, not sent, until the snapshot is out);
//   2. ask the owning worker for the parts of the step in progress (no responders = none);
//   3. read status, messages after `after_id` and the queue from Postgres in one snapshot;
//   4. send status, messages, in-progress parts, queue_update (paced: a long chat's snapshot
//      may be large); then the kept events, then live ones, de-duplicated (stream-dedupe.ts).
// The chat is marked read once the snapshot has been written to the socket and again when
// the socket closes, and only over messages the client was sent: up to the newest message
// the snapshot covered, then up to each live `message` whose frame was written. A socket
// closed (or failed) before its snapshot went out marks nothing. Closing also drops the
// subscription.
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { DataSource } from 'typeorm';
import type { ChatStreamEvent } from '@agentmesh/contracts';
import { LOGGER } from '@agentmesh/observability';
import { AuthContext } from '../auth/auth.types';
import { ChatStreamHub, LiveBatch } from './chat-stream-hub';
import { streamFrames } from './frames';
import { NatsGaps } from './nats-gaps';
import { CloseCodes } from './socket-channel';
import { SocketRegistry } from './socket-registry';
import { assembleSnapshot, LiveFilter } from './stream-dedupe';
import { markChatRead, readStreamSnapshot } from './stream-reads';

export interface StreamTarget {
  auth: AuthContext;
  chat: { id: string; owner_id: string };
  afterId: number;
}

@Injectable()
export class ChatStreamService {
  constructor(
    private readonly ds: DataSource,
    private readonly hub: ChatStreamHub,
    private readonly gaps: NatsGaps,
    private readonly registry: SocketRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async open(ws: WebSocket, target: StreamTarget): Promise<void> {
    const chatId = target.chat.id;
    const log = this.logger.child({ chat_id: chatId, user_id: target.auth.userId, socket: 'stream' });
    const channel = this.registry.track(ws, 'stream', log);
    const opts = this.registry.options;

    // Until the snapshot is sent, live events are kept: "early" ones arrived before the
    // Postgres read started (the read supersedes their state), "late" ones after it.
    let phase: 'early' | 'late' = 'early';
    const early: ChatStreamEvent[] = [];
    const late: LiveBatch[] = [];
    let kept = 0;
    let filter: LiveFilter | undefined;
    // The read cursor this socket may set: undefined until the snapshot has been written.
    let readUpTo: number | undefined;
    const forward = (batch: LiveBatch, f: LiveFilter) => {
      const accepted = f.filter(batch.events);
      if (accepted.length === 0) return;
      const newest = newestMessageId(accepted);
      channel.send(
        accepted === batch.events ? batch.frames() : streamFrames(accepted),
        newest === undefined ? undefined : () => (readUpTo = Math.max(readUpTo ?? 0, newest)),
      );
    };
    const stopListening = this.hub.listen(chatId, (batch) => {
      if (channel.closed) return;
      if (filter) return forward(batch, filter);
      kept += batch.events.length;
      if (kept > opts.maxPendingEvents) {
        log.warn({ kept }, 'too many live events while building the snapshot; closing');
        return channel.close(CloseCodes.tryAgainLater, 'stream busy; reconnect');
      }
      if (phase === 'early') early.push(...batch.events);
      else late.push(batch);
    });
    const stopGaps = this.gaps.onGap(() =>
      channel.close(CloseCodes.serviceRestart, 'live events may have been missed; reconnect with after_id'),
    );
    channel.onClose(async () => {
      stopListening();
      stopGaps();
      await this.markRead(target, readUpTo, log);
    });

    try {
      const buffer = await this.hub.requestBuffer(chatId, opts.bufferRequestTimeoutMs);
      if (channel.closed) return;
      phase = 'late';
      const state = await readStreamSnapshot(this.ds, chatId, target.afterId);
      if (channel.closed) return;
      if (!state) return channel.close(CloseCodes.policy, 'chat not found');
      const { newestMessageId: snapshotNewest, ...read } = state;
      const snapshot = assembleSnapshot({ chatId, ...read, buffer, early });
      early.length = 0;
      // A long chat's snapshot may exceed the backpressure limit: it is paced, and live events
      // keep arriving in `late` (bounded) meanwhile.
      const written = await channel.sendPaced(streamFrames(snapshot.events));
      if (!written) return;
      // The client has every message it may see up to the read's newest one. The socket may
      // have closed just after the write, its close handler already run: mark read here too.
      readUpTo = Math.max(readUpTo ?? 0, snapshotNewest ?? 0);
      if (!channel.closed) {
        for (const batch of late) forward(batch, snapshot.filter);
        late.length = 0;
        filter = snapshot.filter;
      }
      await this.markRead(target, readUpTo, log);
    } catch (e) {
      log.error({ err: e }, 'chat stream failed');
      channel.close(CloseCodes.internal, 'internal error');
    }
  }

  /** Moves the owner's read cursor up to `upTo` (nothing sent yet: undefined, no write). */
  private async markRead(target: StreamTarget, upTo: number | undefined, log: Logger): Promise<void> {
    if (target.auth.userId !== target.chat.owner_id || !upTo) return;
    try {
      await markChatRead(this.ds, target.chat.id, target.chat.owner_id, upTo);
    } catch (e) {
      log.warn({ err: e }, 'could not mark the chat read');
    }
  }
}

/** The highest message id among `events`, if any is a message. */
function newestMessageId(events: readonly ChatStreamEvent[]): number | undefined {
  let newest: number | undefined;
  for (const e of events) {
    if (e.type !== 'message') continue;
    const id = Number(e.message.id);
    if (Number.isSafeInteger(id) && (newest === undefined || id > newest)) newest = id;
  }
  return newest;
}
