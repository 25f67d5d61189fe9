// Environment for starting an app in a test: the suite's database, the machine's NATS
// with the suite's prefix, quiet logs, and an ephemeral port.
import { TEST_NATS_URL } from './nats-admin';

export function appTestEnv(
  dbUrl: string,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: dbUrl,
    NATS_URL: TEST_NATS_URL,
    NATS_SUBJECT_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    DB_POOL_SIZE: '4',
    ...extra,
  };
}
