import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { AibridgeRecorderModule } from './app.module';

runMain(workerOptions('aibridge-recorder', () => loadConfig(workerSchema('aibridge-recorder')), (cfg, shared) => AibridgeRecorderModule.forRoot(cfg, shared)));
