import { dropRunDatabases } from './src/pg-admin';

export default async function globalTeardown(): Promise<void> {
  const runId = process.env.AGENTMESH_TEST_RUN;
  if (runId) await dropRunDatabases(runId);
}
