import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { TelemetryCollectorModule } from './app.module';

const schema = workerSchema('telemetry-collector');
runMain(
  workerOptions(
    'telemetry-collector',
    schema,
    () => loadConfig(schema),
    (cfg, shared) => TelemetryCollectorModule.forRoot(cfg, shared),
  ),
);
