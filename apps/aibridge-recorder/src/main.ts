import { aibridgeRecorderSchema, loadConfig } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { AibridgeRecorderModule } from './app.module';

runMain(
  workerOptions(
    'aibridge-recorder',
    aibridgeRecorderSchema,
    () => loadConfig(aibridgeRecorderSchema),
    (cfg, shared) => AibridgeRecorderModule.forRoot(cfg, shared),
  ),
);
