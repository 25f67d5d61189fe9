// One accepted WebSocket as the stream and watch handlers use it: text frames out, client
// frames ignored (wire contract §1), a ping every interval with the socket dropped when the
// previous ping got no pong (keeps idle sockets alive through proxies and reaps dead peers),
// and backpressure: a snapshot larger than `maxBufferedBytes` is paced by the socket's
// writes; live traffic is not waited for — a client that lets more than `maxBufferedBytes`
// pile up is dropped, reconnects with `after_id` and gets a fresh snapshot instead of an
// unbounded queue here.
// Close handlers (unsubscribe, mark read) run once, whoever closes; `done` settles after them.
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';

export interface SocketChannelOptions {
  pingIntervalMs: number;
  maxBufferedBytes: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeTimeoutMs: number;
}

/** Close codes used by the socket endpoints (RFC 6455 §7.4.1). */
export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  internal: 1011,
  /** NATS reconnected: live events may have been missed; reconnect with after_id. */
  serviceRestart: 1012,
  /** The client reads too slowly. */
  tryAgainLater: 1013,
} as const;

export class SocketChannel {
  private closing = false;
  /** The close code once the socket has closed (1006 when it was dropped). */
  closeCode?: number;
  readonly openedAt = Date.now();
  private alive = true;
  private readonly pinger: NodeJS.Timeout;
  private readonly handlers: (() => Promise<void> | void)[] = [];
  private settle!: () => void;
  private markEnded!: () => void;
  /** Settles as soon as the socket has closed. */
  private readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve));
  /** Settles once the socket is closed and every close handler has finished. */
  readonly done = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: SocketChannelOptions,
    private readonly logger: Logger,
  ) {
    ws.on('message', () => undefined);
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.once('close', (code: number) => {
      this.closeCode = code;
      this.markEnded();
      void this.finish();
    });
    this.pinger = setInterval(() => {
      if (!this.alive) {
        this.logger.debug('websocket peer stopped answering pings; dropping it');
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
    }, opts.pingIntervalMs);
    this.pinger.unref();
  }

  /** Closed, closing, or no longer open. */
  get closed(): boolean {
    return this.closing || this.ws.readyState !== this.ws.OPEN;
  }

  /** Runs when the socket closes (in registration order; errors are logged). */
  onClose(fn: () => Promise<void> | void): void {
    this.handlers.push(fn);
  }

  /**
   * Sends frames that may add up to more than the limit (a snapshot of a long chat): whenever
   * more than the limit is unflushed, waits until the frames so far are written. Resolves
   * true once every frame has been written to the socket, false when the socket closed or a
   * write failed first (the client may not have them all).
   */
  async sendPaced(frames: readonly string[]): Promise<boolean> {
    const closedFirst = this.ended.then(() => false);
    let written: Promise<boolean> = Promise.resolve(true);
    for (const frame of frames) {
      if (this.ws.bufferedAmount > this.opts.maxBufferedBytes) await Promise.race([written, closedFirst]);
      if (this.closed) return false;
      written = new Promise<boolean>((resolve) => this.ws.send(frame, (err) => resolve(!err)));
    }
    // Writes complete in order: the last one's outcome is the whole send's.
    return Promise.race([written, closedFirst]);
  }

  /**
   * Sends text frames; drops the socket when the client falls too far behind. `onWritten`
   * runs once all of them have been written to the socket (never when the socket closed first).
   */
  send(frames: readonly string[], onWritten?: () => void): void {
    for (let i = 0; i < frames.length; i++) {
      if (this.closed) return;
      const confirm = i === frames.length - 1 ? onWritten : undefined;
      this.ws.send(frames[i], confirm && ((err?: Error) => void (err || confirm())));
    }
    if (this.ws.bufferedAmount > this.opts.maxBufferedBytes) {
      this.logger.warn(
        { buffered_bytes: this.ws.bufferedAmount },
        'websocket client is not reading; dropping it',
      );
      this.closing = true;
      this.ws.terminate();
    }
  }

  /** Starts a close handshake; the socket is destroyed if it does not complete in time. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING)
      this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), this.opts.closeTimeoutMs).unref();
  }

  private async finish(): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    for (const fn of this.handlers) {
      try {
        await fn();
      } catch (e) {
        this.logger.warn({ err: e }, 'websocket close handler failed');
      }
    }
    this.settle();
  }
}
