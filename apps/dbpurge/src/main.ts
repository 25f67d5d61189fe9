import { dbpurgeSchema, loadConfig } from '@agentmesh/config';
import { runMain, workerOptions } from '@agentmesh/observability';
import { DbpurgeModule } from './app.module';

runMain(
  workerOptions(
    'dbpurge',
    dbpurgeSchema,
    () => loadConfig(dbpurgeSchema),
    (cfg, shared) => DbpurgeModule.forRoot(cfg, shared),
  ),
);
