// Starts a real chat-api in-process for a test suite: its own database (cloned from the
// migrated template), the machine's NATS under a random prefix, an ephemeral port.
import { chatApiSchema, loadConfig } from '@agentmesh/config';
import { AgentmeshClient } from '@agentmesh/contracts';
import { RunningApp, startApp } from '@agentmesh/observability';
import {
  appTestEnv,
  deleteStreamsForPrefix,
  randomPrefix,
  TestDatabase,
  useTestDatabase,
} from '@agentmesh/testing';
import { chatApiOptions } from '../src/bootstrap';

export interface ChatApiHarness {
  readonly db: TestDatabase;
  readonly prefix: string;
  readonly url: string;
  readonly app: RunningApp;
  client(token?: string): AgentmeshClient;
}

export function useChatApi(env: Record<string, string> = {}): ChatApiHarness {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  let running: RunningApp | undefined;
  beforeAll(async () => {
    running = await startApp(
      chatApiOptions(() => loadConfig(chatApiSchema, appTestEnv(db.url, prefix, env))),
    );
  });
  afterAll(async () => {
    await running?.close();
    await deleteStreamsForPrefix(prefix);
  });
  return {
    db,
    prefix,
    get url() {
      return running!.url;
    },
    get app() {
      return running!;
    },
    client(token?: string) {
      return new AgentmeshClient(running!.url, token);
    },
  };
}

export const OWNER = {
  email: 'owner@example.com',
  username: 'owner',
  name: 'Olive Owner',
  password: 'correct horse battery',
};

/** Creates the first user and returns a logged-in client for it. */
export async function setupOwner(
  h: ChatApiHarness,
): Promise<{ client: AgentmeshClient; userId: string; orgId: string }> {
  const anon = h.client();
  const { user_id, organization_id } = await anon.createFirstUser(OWNER);
  await anon.login({ email: OWNER.email, password: OWNER.password });
  return { client: anon, userId: user_id, orgId: organization_id };
}
