import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { ChatdWorkerModule } from './app.module';

runMain(workerOptions('chatd-worker', () => loadConfig(workerSchema('chatd-worker')), (cfg, shared) => ChatdWorkerModule.forRoot(cfg, shared)));
