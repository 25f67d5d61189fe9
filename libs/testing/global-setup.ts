// Jest globalSetup: checks the real services are reachable, drops databases of crashed
// runs, then creates and migrates one template database for the whole run. Workers inherit
// AGENTMESH_TEST_RUN and clone the template per suite (see src/test-db.ts).
//
// Jest loads this file without moduleNameMapper, so the @agentmesh/* aliases do not resolve
// here: it imports the few modules it needs by path.
/* eslint-disable @nx/enforce-module-boundaries */
import { createDataSource } from '../db/src/data-source';
import { migrate } from '../db/src/migrator';
import { ALL_MIGRATIONS } from '../../migrations';
/* eslint-enable @nx/enforce-module-boundaries */
import { dbUrl, dropStaleDatabases, templateName, withAdmin } from './src/pg-admin';
import { assertNatsReachable } from './src/nats-admin';

export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  process.env.AGENTMESH_TEST_RUN = runId;
  await assertNatsReachable();
  await dropStaleDatabases();
  await withAdmin((c) => c.query(`CREATE DATABASE "${templateName(runId)}"`));
  const ds = createDataSource({
    url: dbUrl(templateName(runId)),
    poolSize: 2,
    applicationName: 'agentmesh-test-setup',
    migrations: ALL_MIGRATIONS,
  });
  await ds.initialize();
  try {
    await migrate(ds);
  } finally {
    await ds.destroy();
  }
}
