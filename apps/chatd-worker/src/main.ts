import { loadConfig, workerSchema } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { ChatdWorkerModule } from './app.module';

const schema = workerSchema('chatd-worker');
runMain(
  workerOptions(
    'chatd-worker',
    schema,
    () => loadConfig(schema),
    (cfg, shared) => ChatdWorkerModule.forRoot(cfg, shared),
  ),
);
