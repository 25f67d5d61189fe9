// The one NATS connection of a process. It reconnects forever (with jittered backoff);
// readiness is red while disconnected and green again after reconnecting. On shutdown it
// drains: subscriptions finish the messages they hold, then the connection closes.
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstream, JetStreamClient, jetstreamManager, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { LOGGER, Metrics, ReadinessService, StartupCleanup } from '@agentmesh/observability';
import { SubjectCatalog } from './subjects';

export interface NatsOptions {
  servers: string[];
  token?: string;
  prefix: string;
  name: string;
}

export const NATS_OPTIONS = Symbol('agentmesh.nats.options');

@Injectable()
export class NatsService implements OnApplicationShutdown {
  private conn?: NatsConnection;
  private connected = false;
  private jsClient?: JetStreamClient;
  private jsm?: JetStreamManager;
  readonly catalog: SubjectCatalog;

  constructor(
    @Inject(NATS_OPTIONS) private readonly opts: NatsOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: ReadinessService,
    private readonly metrics: Metrics,
    private readonly cleanup: StartupCleanup,
  ) {
    this.catalog = new SubjectCatalog(opts.prefix);
    readiness.register('nats', async () => {
      if (!this.conn || !this.connected) throw new Error('not connected to NATS');
      await this.conn.flush();
    });
  }

  /** Connects, waiting (and logging) until the server is reachable. */
  async connect(): Promise<void> {
    if (this.conn) return;
    const up = this.metrics.gauge('nats_connected', '1 while the NATS connection is up');
    const servers = this.opts.servers.join(',');
    this.logger.info({ servers }, 'connecting to NATS');
    // The client retries forever without reporting; say so while it does.
    const waiting = setInterval(() => this.logger.warn({ servers }, 'still waiting for NATS'), 10_000);
    const conn = await connect({
      servers: this.opts.servers,
      name: this.opts.name,
      token: this.opts.token,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      reconnectJitter: 500,
      pingInterval: 10_000,
      maxPingOut: 3,
    }).finally(() => clearInterval(waiting));
    this.conn = conn;
    this.cleanup.add(async () => !conn.isClosed() && conn.close());
    this.connected = true;
    up.set(1);
    this.logger.info({ server: conn.getServer() }, 'connected to NATS');
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          up.set(0);
          this.logger.warn({ server: s.server }, 'NATS disconnected; reconnecting');
        } else if (s.type === 'reconnect') {
          this.connected = true;
          up.set(1);
          this.logger.info({ server: s.server }, 'NATS reconnected');
        }
      }
    })();
  }

  get nc(): NatsConnection {
    if (!this.conn) throw new Error('NATS is not connected yet');
    return this.conn;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  js(): JetStreamClient {
    return (this.jsClient ??= jetstream(this.nc));
  }

  async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.nc));
  }

  async onApplicationShutdown(): Promise<void> {
    const c = this.conn;
    if (!c || c.isClosed()) return;
    try {
      await c.drain();
    } catch (e) {
      this.logger.warn({ err: e }, 'NATS drain failed; closing');
      await c.close();
    }
    this.connected = false;
  }
}

/** NATS options from the common config variables. */
export function natsOptionsFrom(
  app: string,
  cfg: { NATS_URL: string[]; NATS_TOKEN?: string; NATS_SUBJECT_PREFIX: string },
): NatsOptions {
  return { servers: cfg.NATS_URL, token: cfg.NATS_TOKEN, prefix: cfg.NATS_SUBJECT_PREFIX, name: app };
}
