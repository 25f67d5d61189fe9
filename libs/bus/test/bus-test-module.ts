// A Nest testing module wired like an app that uses the bus: silent logging, its own
// metrics, the suite's database and the real NATS server under the suite's prefix. It
// returns the builder: callers compile it, then init it (or expect init to fail) themselves.
import type { Provider } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import { BusModule, HandlerTarget, OutboxOptions, StreamKey } from '../src';
import { DatabaseModule } from '@agentmesh/db';
import { createLogger, Metrics, ObservabilityModule } from '@agentmesh/observability';
import { TEST_NATS_URL } from '@agentmesh/testing';

export interface BusTestModuleOptions {
  /** The suite's database (`useTestDatabase().url`). */
  dbUrl: string;
  /** The suite's subject prefix (`randomPrefix()`). */
  prefix: string;
  /** Where NATS is reached, e.g. through a `TcpProxy`; the test server by default. */
  natsUrl?: string;
  subscriptions?: HandlerTarget[];
  streams?: StreamKey[];
  /** Passed to BusModule as given: leaving it out keeps BusModule's own default (relay off). */
  outbox?: Partial<OutboxOptions>;
  providers?: Provider[];
  /** The NATS connection name and the Postgres application name. */
  name?: string;
  poolSize?: number;
}

export function busTestModule(opts: BusTestModuleOptions): TestingModuleBuilder {
  const name = opts.name ?? 'bus-test';
  return Test.createTestingModule({
    imports: [
      ObservabilityModule.forRoot({
        logger: createLogger('bus-test', 'silent'),
        metrics: new Metrics('bus-test'),
      }),
      DatabaseModule.forRoot({ url: opts.dbUrl, poolSize: opts.poolSize ?? 2, applicationName: name }),
      BusModule.forRoot({
        nats: { servers: [opts.natsUrl ?? TEST_NATS_URL], prefix: opts.prefix, name },
        subscriptions: opts.subscriptions ?? [],
        streams: opts.streams ?? [],
        ...(opts.outbox === undefined ? {} : { outbox: opts.outbox }),
      }),
    ],
    providers: opts.providers ?? [],
  });
}
