// One Prometheus registry per process; every metric name starts with `agentmesh_`.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const METRIC_PREFIX = 'agentmesh_';

export class Metrics {
  readonly registry = new Registry();

  constructor(app: string) {
    this.registry.setDefaultLabels({ app });
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.getOrCreate(
      name,
      () => new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry] }),
    );
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.getOrCreate(
      name,
      () => new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry] }),
    );
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets?: number[],
  ): Histogram<L> {
    return this.getOrCreate(
      name,
      () =>
        new Histogram({
          name: METRIC_PREFIX + name,
          help,
          labelNames,
          registers: [this.registry],
          ...(buckets ? { buckets } : {}),
        }),
    );
  }

  private getOrCreate<T>(name: string, make: () => T): T {
    return (this.registry.getSingleMetric(METRIC_PREFIX + name) as T | undefined) ?? make();
  }
}
