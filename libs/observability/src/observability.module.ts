// Global module giving every provider the process-wide logger, metrics registry and
// readiness registry, and mounting /healthz, /readyz and /metrics.
import { DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { HealthController, ReadinessService } from './health';
import { Metrics } from './metrics';
import { StartupCleanup } from './startup-cleanup';

export const LOGGER = Symbol('agentmesh.logger');

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(shared: { logger: Logger; metrics: Metrics; cleanup?: StartupCleanup }): DynamicModule {
    return {
      module: ObservabilityModule,
      controllers: [HealthController],
      providers: [
        { provide: LOGGER, useValue: shared.logger },
        { provide: Metrics, useValue: shared.metrics },
        { provide: StartupCleanup, useValue: shared.cleanup ?? new StartupCleanup() },
        ReadinessService,
      ],
      exports: [LOGGER, Metrics, ReadinessService, StartupCleanup],
    };
  }
}
