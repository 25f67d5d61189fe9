// The open stream and watch sockets of this replica, so shutdown can close them (1001,
// "going away") and wait for their close handlers — NATS unsubscribe, the read cursor
// write — before Nest closes the NATS connection and the Postgres pool.
import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { LOGGER, Metrics } from '@agentmesh/observability';
import { CloseCodes, SocketChannel } from './socket-channel';

export type SocketKind = 'stream' | 'watch';

/** Socket tuning; defaults below, injectable for tests. */
export const SOCKET_OPTIONS = Symbol('agentmesh.chatSockets.options');

export interface ChatSocketOptions {
  /** Ping period; a peer that misses one ping is dropped at the next. */
  pingIntervalMs: number;
  /** Outgoing bytes a client may leave unread before it is dropped. */
  maxBufferedBytes: number;
  closeTimeoutMs: number;
  /** How long a stream socket waits for the worker's buffer (no responders answers at once). */
  bufferRequestTimeoutMs: number;
  /** Live events a stream socket may hold while it builds its snapshot. */
  maxPendingEvents: number;
  /** How long shutdown waits for the sockets' close handlers. */
  shutdownWaitMs: number;
}

export const DEFAULT_SOCKET_OPTIONS: ChatSocketOptions = {
  pingIntervalMs: 25_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  closeTimeoutMs: 5_000,
  bufferRequestTimeoutMs: 1_000,
  maxPendingEvents: 10_000,
  shutdownWaitMs: 5_000,
};

@Injectable()
export class SocketRegistry implements BeforeApplicationShutdown {
  private readonly open = new Set<SocketChannel>();
  private readonly gauge;

  constructor(
    @Inject(SOCKET_OPTIONS) readonly options: ChatSocketOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.gauge = metrics.gauge('chat_sockets_open', 'Open chat WebSockets, by endpoint', ['endpoint']);
  }

  /** Wraps an accepted socket and tracks it until it closes. */
  track(ws: WebSocket, kind: SocketKind, logger: Logger): SocketChannel {
    const channel = new SocketChannel(ws, this.options, logger);
    this.open.add(channel);
    this.gauge.labels(kind).inc();
    void channel.done.then(() => {
      this.open.delete(channel);
      this.gauge.labels(kind).dec();
      // Upgraded requests never reach the access log's onResponse hook: log the session here.
      logger.info(
        { code: channel.closeCode, duration_ms: Date.now() - channel.openedAt },
        'websocket closed',
      );
    });
    return channel;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.open.size === 0) return;
    this.logger.info({ sockets: this.open.size }, 'closing chat websockets');
    const all = [...this.open];
    for (const c of all) c.close(CloseCodes.goingAway, 'server shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(all.map((c) => c.done)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.shutdownWaitMs))),
    ]);
    clearTimeout(timer);
  }
}
