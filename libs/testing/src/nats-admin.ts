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
    throw new Error(
      `NATS is not reachable at ${TEST_NATS_URL} (${(e as Error).message}); start nats-server with -js`,
    );
  }
}

/** Deletes the JetStream streams a suite created under its prefix. */
export async function deleteStreamsForPrefix(prefix: string): Promise<void> {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: TEST_NATS_URL, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const upper = `${prefix.replace(/[^A-Za-z0-9_-]/g, '_').toUpperCase()}_`;
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(upper)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
