// Wires the bus into an app: connects NATS at init, provisions the app's streams and
// consumers, checks handler registration, starts subscriptions and consume loops at
// bootstrap, and stops them first on shutdown (before the connection drains).
import {
  BeforeApplicationShutdown,
  DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnModuleInit,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { LOGGER, Metrics, ReadinessService } from '@agentmesh/observability';
import { BusService } from './bus.service';
import { BatchItem, ConsumerRunner, JetStreamBatchHandler, JetStreamHandler } from './consumer';
import { BUS_HANDLER, checkHandlers, HandlerRegistrationError, handlerKey, HandlerTarget } from './handlers';
import { NATS_OPTIONS, NatsOptions, NatsService } from './nats.service';
import { OUTBOX_OPTIONS, OutboxOptions, OutboxService } from './outbox';
import { ensureConsumer, ensureStream, STREAMS } from './streams';
import { StreamKey } from './subjects';

export interface BusModuleOptions {
  nats: NatsOptions;
  /** Everything this app listens to; each needs exactly one decorated handler. */
  subscriptions: HandlerTarget[];
  /** Streams this app publishes to or consumes from (provisioned at boot, idempotently). */
  streams: StreamKey[];
  /** The outbox relay; off unless the app writes outbox events (`enabled: true`). */
  outbox?: Partial<OutboxOptions>;
}

const BUS_OPTIONS = Symbol('agentmesh.bus.options');

interface FoundHandler {
  target: HandlerTarget;
  where: string;
  /** Calls the decorated method with the arguments of its kind of handler. */
  invoke: (...args: unknown[]) => Promise<unknown>;
}

@Injectable()
export class BusLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];
  private readonly runners: ConsumerRunner[] = [];

  constructor(
    @Inject(BUS_OPTIONS) private readonly opts: BusModuleOptions,
    private readonly nats: NatsService,
    private readonly bus: BusService,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly metrics: Metrics,
    @Inject(LOGGER) private readonly logger: Logger,
    readiness: ReadinessService,
  ) {
    readiness.register('jetstream_consumers', async () => {
      const broken = this.runners.filter((r) => !r.healthy);
      if (broken.length > 0) throw new Error(broken.map((r) => r.failure).join('; '));
    });
  }

  async onModuleInit(): Promise<void> {
    await this.nats.connect();
    const jsm = await this.nats.manager();
    const streams = new Set<StreamKey>([...this.opts.streams, 'DEAD_LETTERS']);
    for (const t of this.opts.subscriptions) if (t.kind === 'consumer') streams.add(t.consumer.stream);
    for (const key of streams) await ensureStream(jsm, this.nats.catalog, STREAMS[key]);
    for (const t of this.opts.subscriptions)
      if (t.kind === 'consumer') await ensureConsumer(jsm, this.nats.catalog, t.consumer);
  }

  async onApplicationBootstrap(): Promise<void> {
    const found = this.findHandlers();
    const problems = checkHandlers(
      this.opts.subscriptions,
      found.map((f) => ({ target: f.target, where: f.where })),
    );
    if (problems.length > 0)
      throw new HandlerRegistrationError(
        `bus handler registration is invalid:\n  - ${problems.join('\n  - ')}`,
      );
    for (const f of found) {
      // After the check the decorated and declared targets agree; use the declared one.
      const t = this.opts.subscriptions.find((d) => handlerKey(d) === handlerKey(f.target)) ?? f.target;
      if (t.kind === 'subject') {
        this.subscriptions.push(
          this.bus.subscribe(t.subject, async (payload, meta) => void (await f.invoke(payload, meta)), {
            queue: t.queue,
            onError: (e, subject) => this.logger.error({ err: e, subject }, 'bus handler failed'),
          }),
        );
      } else {
        const handler: JetStreamHandler | JetStreamBatchHandler = t.consumer.batch
          ? (items: BatchItem[]) => f.invoke(items) as Promise<(Error | undefined)[]>
          : async (payload, meta) => void (await f.invoke(payload, meta));
        const runner = new ConsumerRunner(this.nats, t.consumer, handler, this.logger, this.metrics);
        await runner.start();
        this.runners.push(runner);
      }
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const s of this.subscriptions) s.unsubscribe();
    await Promise.all([this.bus.settle(), ...this.runners.map((r) => r.stop())]);
  }

  private findHandlers(): FoundHandler[] {
    const out: FoundHandler[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const proto = Object.getPrototypeOf(instance);
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const method = instance[name] as (...a: unknown[]) => unknown;
        const target = this.reflector.get<HandlerTarget | undefined>(BUS_HANDLER, method);
        if (!target) continue;
        out.push({
          target,
          where: `${proto.constructor.name}.${name}`,
          invoke: async (...args) => method.call(instance, ...args),
        });
      }
    }
    return out;
  }
}

@Global()
@Module({})
export class BusModule {
  static forRoot(opts: BusModuleOptions): DynamicModule {
    // The relay runs only in apps that write outbox events (it polls Postgres every second).
    const outbox: OutboxOptions = { enabled: false, pollIntervalMs: 1000, batchSize: 100, ...opts.outbox };
    return {
      module: BusModule,
      imports: [DiscoveryModule],
      providers: [
        { provide: BUS_OPTIONS, useValue: opts },
        { provide: NATS_OPTIONS, useValue: opts.nats },
        { provide: OUTBOX_OPTIONS, useValue: outbox },
        NatsService,
        BusService,
        OutboxService,
        BusLifecycle,
      ],
      exports: [NatsService, BusService, OutboxService],
    };
  }
}
