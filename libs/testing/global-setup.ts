// Jest globalSetup: checks the real services are reachable, then migrates one template
// database for the whole run. Workers inherit AGENTMESH_TEST_RUN and clone it per suite.
import { createTemplate } from './src/pg-admin';
import { assertNatsReachable } from './src/nats-admin';

export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  process.env.AGENTMESH_TEST_RUN = runId;
  await assertNatsReachable();
  await createTemplate(runId);
}
