import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { TelemetryCollectorModule } from './app.module';

runMain(workerOptions('telemetry-collector', () => loadConfig(workerSchema('telemetry-collector')), (cfg, shared) => TelemetryCollectorModule.forRoot(cfg, shared)));
