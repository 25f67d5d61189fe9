// The configuration of every agentmesh app, in one place. Each app builds its schema with
// `schemaFor(app)` and validates it at boot; docs/configuration.md and the README table are
// checked against these specs by a test, so a new variable cannot go undocumented.
import { ALL_APPS, AppName, EnvSchema, EnvValues, parseEnv, v } from './env-schema';

const SUBJECT_PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Internal health/metrics ports of the worker apps, distinct so all five run on one host. */
export const DEFAULT_HEALTH_PORTS: Record<Exclude<AppName, 'chat-api'>, number> = {
  'chatd-worker': 9101,
  'aibridge-recorder': 9102,
  'telemetry-collector': 9103,
  dbpurge: 9104,
};

export const commonSchema = {
  DATABASE_URL: v.url({
    description: 'PostgreSQL connection URL',
    apps: 'all',
    required: true,
    secret: true,
    protocols: ['postgres:', 'postgresql:'],
  }),
  DB_POOL_SIZE: v.int({
    description: 'Maximum Postgres connections per process',
    apps: 'all',
    default: 10,
    min: 1,
    max: 500,
  }),
  NATS_URL: v.urlList({
    description: 'NATS server URL(s), comma-separated',
    apps: 'all',
    default: ['nats://127.0.0.1:4222'],
    defaultText: 'nats://127.0.0.1:4222',
    protocols: ['nats:', 'tls:'],
  }),
  NATS_TOKEN: v.string({
    description: 'NATS auth token, when the server requires one',
    apps: 'all',
    secret: true,
  }),
  NATS_SUBJECT_PREFIX: {
    ...v.string({
      description: 'Prefix of every NATS subject (and of stream names when not the default)',
      apps: 'all',
      default: 'agentmesh',
    }),
    parse(raw: string) {
      const s = raw.trim();
      if (!SUBJECT_PREFIX_RE.test(s))
        throw new Error('must be dot-separated tokens of letters, digits, _ or -');
      return s;
    },
  },
  LOG_LEVEL: v.oneOf(LOG_LEVELS, { description: 'Minimum log level', apps: 'all', default: 'info' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: v.url({
    description: 'OTLP/HTTP endpoint for traces; unset = traces are not exported',
    apps: 'all',
    protocols: ['http:', 'https:'],
  }),
  SHUTDOWN_GRACE_PERIOD: v.duration({
    description: 'Time in-flight work gets to finish after SIGTERM',
    apps: 'all',
    default: 25_000,
    defaultText: '25s',
  }),
  AGENTMESH_ENCRYPTION_KEYS: {
    ...v.string({
      description:
        'Comma-separated base64 32-byte AES keys for secret columns, primary first; unset = plaintext',
      apps: 'all',
      secret: true,
    }),
    parse(raw: string) {
      const keys = raw.split(',').map((s) => s.trim());
      keys.forEach((k, i) => {
        const buf = Buffer.from(k, 'base64');
        if (buf.length !== 32 || buf.toString('base64') !== k) {
          throw new Error(`key #${i + 1} must be the base64 encoding of exactly 32 bytes`);
        }
      });
      return raw.trim();
    },
  },
} satisfies EnvSchema;

const httpServerSchema = {
  HTTP_HOST: v.string({
    description: 'Address the public API listens on',
    apps: ['chat-api'],
    default: '0.0.0.0',
  }),
  HTTP_PORT: v.port({
    description: 'Port of the public API (also serves /healthz, /readyz, /metrics)',
    apps: ['chat-api'],
    default: 3000,
  }),
  SESSION_DURATION: v.duration({
    description: 'Lifetime of a login session token',
    apps: ['chat-api'],
    default: 24 * 3_600_000,
    defaultText: '24h',
    min: 60_000,
  }),
  MAX_TOKEN_LIFETIME: v.duration({
    description: 'Longest lifetime a user may request for an API token',
    apps: ['chat-api'],
    default: 365 * 24 * 3_600_000,
    defaultText: '8760h (365 days)',
    min: 60_000,
  }),
  SECURE_AUTH_COOKIE: v.bool({
    description: 'Mark the session cookie Secure (set behind TLS)',
    apps: ['chat-api'],
    default: false,
  }),
  LOGIN_RATE_LIMIT_IP: v.int({
    description: 'Login attempts per minute from one client IP',
    apps: ['chat-api'],
    default: 30,
    min: 1,
  }),
  LOGIN_RATE_LIMIT_ACCOUNT: v.int({
    description: 'Login attempts per minute for one account (email)',
    apps: ['chat-api'],
    default: 10,
    min: 1,
  }),
  TRUST_PROXY: v.bool({
    description: 'Behind one load balancer: take the client IP from the last X-Forwarded-For hop',
    apps: ['chat-api'],
    default: false,
  }),
} satisfies EnvSchema;

const healthServerSchema = (app: Exclude<AppName, 'chat-api'>) =>
  ({
    HEALTH_HOST: v.string({
      description: 'Address of the internal health/metrics server of a worker app',
      apps: [app],
      default: '0.0.0.0',
    }),
    HEALTH_PORT: v.port({
      description: 'Port of the internal health/metrics server of a worker app',
      apps: [app],
      default: DEFAULT_HEALTH_PORTS[app],
      defaultText: Object.entries(DEFAULT_HEALTH_PORTS)
        .map(([a, p]) => `${p} (${a})`)
        .join(', '),
    }),
  }) satisfies EnvSchema;

const dbpurgeOnlySchema = {
  PURGE_INTERVAL: v.duration({
    description: 'How often dbpurge runs',
    apps: ['dbpurge'],
    default: 600_000,
    defaultText: '10m',
    min: 1000,
  }),
  RETENTION_API_KEYS: v.duration({
    description: 'How long expired API keys and sessions are kept before deletion; 0 = forever',
    apps: ['dbpurge'],
    default: 7 * 24 * 3_600_000,
    defaultText: '168h (7 days)',
  }),
} satisfies EnvSchema;

const chatdOnlySchema = {
  CHATD_MAX_CHATS: v.int({
    description: 'Chats one chatd-worker replica runs at once',
    apps: ['chatd-worker'],
    default: 50,
    min: 1,
    max: 10_000,
  }),
  CHATD_ACQUIRE_BATCH: v.int({
    description: 'Pending chats claimed per acquire statement',
    apps: ['chatd-worker'],
    default: 10,
    min: 1,
    max: 1000,
  }),
  CHATD_POLL_INTERVAL: v.duration({
    description: 'How often a worker looks for pending chats without a wake signal',
    apps: ['chatd-worker'],
    default: 1000,
    defaultText: '1s',
    min: 10,
  }),
  CHATD_HEARTBEAT_INTERVAL: v.duration({
    description: 'How often a worker renews ownership of its running chats (one statement)',
    apps: ['chatd-worker'],
    default: 30_000,
    defaultText: '30s',
    min: 100,
  }),
  CHATD_STALE_THRESHOLD: v.duration({
    description: 'Heartbeat age after which a running chat is handed to another worker',
    apps: ['chatd-worker'],
    default: 300_000,
    defaultText: '5m',
    min: 1000,
  }),
  CHATD_AUTO_TITLE: v.bool({
    description: "Generate a title with a cheap model after a chat's first turn",
    apps: ['chatd-worker'],
    default: true,
  }),
  CHATD_FIRST_CHUNK_TIMEOUT: v.duration({
    description: 'How long a model call may take to send its first chunk before it is retried (0 = no limit)',
    apps: ['chatd-worker'],
    default: 60_000,
    defaultText: '60s',
  }),
} satisfies EnvSchema;

const aibridgeRecorderOnlySchema = {
  AIBRIDGE_RECORDER_BATCH_MESSAGES: v.int({
    description:
      'Bus messages the AI Bridge recorder commits in one transaction (each may carry up to 500 records)',
    apps: ['aibridge-recorder'],
    default: 100,
    min: 1,
    max: 1000,
  }),
  AIBRIDGE_RECORDER_BATCH_BYTES: v.bytes({
    description:
      'Most payload bytes the AI Bridge recorder commits in one transaction (a larger single message is committed alone)',
    apps: ['aibridge-recorder'],
    default: 8 * 1024 * 1024,
    defaultText: '8MiB',
    min: 64 * 1024,
    max: 1024 * 1024 * 1024,
  }),
  AIBRIDGE_RECORDER_BATCH_WAIT: v.duration({
    description: 'How long the AI Bridge recorder waits for a batch to fill before committing it',
    apps: ['aibridge-recorder'],
    default: 20,
    defaultText: '20ms',
    min: 1,
  }),
  AIBRIDGE_RECORDER_ACK_WAIT: v.duration({
    description:
      'How long a delivered AI Bridge message may stay unacked (recorder crashed) before redelivery',
    apps: ['aibridge-recorder'],
    default: 30_000,
    defaultText: '30s',
    min: 1000,
  }),
} satisfies EnvSchema;

export const chatApiSchema = { ...commonSchema, ...httpServerSchema };
export const workerSchema = <A extends Exclude<AppName, 'chat-api'>>(app: A) => ({
  ...commonSchema,
  ...healthServerSchema(app),
});
export const dbpurgeSchema = { ...workerSchema('dbpurge'), ...dbpurgeOnlySchema };
export const chatdWorkerSchema = { ...workerSchema('chatd-worker'), ...chatdOnlySchema };
export const aibridgeRecorderSchema = { ...workerSchema('aibridge-recorder'), ...aibridgeRecorderOnlySchema };

export type CommonConfig = EnvValues<typeof commonSchema>;
export type ChatApiConfig = EnvValues<typeof chatApiSchema>;
export type WorkerConfig = EnvValues<ReturnType<typeof workerSchema>>;
export type DbpurgeConfig = EnvValues<typeof dbpurgeSchema>;
export type ChatdWorkerConfig = EnvValues<typeof chatdWorkerSchema>;
export type AibridgeRecorderConfig = EnvValues<typeof aibridgeRecorderSchema>;

export function schemaFor(app: AppName): EnvSchema {
  if (app === 'chat-api') return chatApiSchema;
  if (app === 'dbpurge') return dbpurgeSchema;
  if (app === 'chatd-worker') return chatdWorkerSchema;
  if (app === 'aibridge-recorder') return aibridgeRecorderSchema;
  return workerSchema(app);
}

/** Every variable of every app, merged (for docs and the README check). */
export function allVariables(): Record<string, { spec: EnvSchema[string]; apps: Set<AppName> }> {
  const out: Record<string, { spec: EnvSchema[string]; apps: Set<AppName> }> = {};
  for (const app of ALL_APPS) {
    const schema = schemaFor(app);
    for (const [name, spec] of Object.entries(schema)) {
      const entry = (out[name] ??= { spec, apps: new Set() });
      entry.apps.add(app);
    }
  }
  return out;
}

export function loadConfig<S extends EnvSchema>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): EnvValues<S> {
  return parseEnv(schema, env);
}
