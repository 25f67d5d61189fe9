import { chatdWorkerSchema, loadConfig } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { ChatdWorkerModule } from './app.module';

runMain(
  workerOptions(
    'chatd-worker',
    chatdWorkerSchema,
    () => loadConfig(chatdWorkerSchema),
    (cfg, shared) => ChatdWorkerModule.forRoot(cfg, shared),
  ),
);
