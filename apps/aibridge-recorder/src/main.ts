import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { AibridgeRecorderModule } from './app.module';

const schema = workerSchema('aibridge-recorder');
runMain(
  workerOptions(
    'aibridge-recorder',
    schema,
    () => loadConfig(schema),
    (cfg, shared) => AibridgeRecorderModule.forRoot(cfg, shared),
  ),
);
