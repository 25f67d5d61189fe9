// Tells the socket hubs when this replica's NATS connection came back after a disconnect:
// core NATS does not replay what was published meanwhile, so every live socket may have
// missed events and is closed (1012) for its client to reconnect and resynchronize.
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { NatsService } from '@agentmesh/bus';
import { LOGGER } from '@agentmesh/observability';

@Injectable()
export class NatsGaps {
  private readonly listeners = new Set<() => void>();
  private watching = false;

  constructor(
    private readonly nats: NatsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Calls `fn` after each reconnect until the returned function is called. */
  onGap(fn: () => void): () => void {
    this.watch();
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    const status = this.nats.nc.status();
    void (async () => {
      for await (const s of status) {
        if (s.type !== 'reconnect') continue;
        this.logger.info({ sockets: this.listeners.size }, 'NATS reconnected; closing live chat sockets');
        for (const fn of [...this.listeners]) fn();
      }
    })().catch((e: unknown) => this.logger.warn({ err: e }, 'NATS status watch ended'));
  }
}
