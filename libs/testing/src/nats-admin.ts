// NATS for tests: the machine's server, with a random subject prefix per suite so suites
// never see each other's messages or streams.
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';

export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function randomPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export async function assertNatsReachable(): Promise<void> {
  try {
    const nc = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
    await nc.close();
  } catch (e) {
    throw new Error(`NATS is not reachable at ${TEST_NATS_URL} (${(e as Error).message}); start nats-server with -js`);
  }
}
