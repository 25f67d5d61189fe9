import { ConfigError, parseEnv, redactConfig, v } from './env-schema';
import { chatApiSchema, dbpurgeSchema, workerSchema } from './agentmesh-config';

const base = { DATABASE_URL: 'postgres://u:pw@db:5432/agentmesh' };

describe('parseEnv', () => {
  it('applies defaults and parses types', () => {
    const cfg = parseEnv(chatApiSchema, {
      ...base,
      HTTP_PORT: '8080',
      SECURE_AUTH_COOKIE: 'true',
      SESSION_DURATION: '2h',
      NATS_URL: 'nats://a:4222, nats://b:4222',
    });
    expect(cfg).toMatchObject({
      HTTP_PORT: 8080,
      SECURE_AUTH_COOKIE: true,
      SESSION_DURATION: 7_200_000,
      NATS_URL: ['nats://a:4222', 'nats://b:4222'],
      NATS_SUBJECT_PREFIX: 'agentmesh',
      LOG_LEVEL: 'info',
      DB_POOL_SIZE: 10,
    });
    expect(cfg.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
  });

  it('names every bad variable in one error', () => {
    let err: ConfigError | undefined;
    try {
      parseEnv(chatApiSchema, {
        HTTP_PORT: '70000',
        LOG_LEVEL: 'loud',
        NATS_URL: 'http://x',
        NATS_SUBJECT_PREFIX: 'a..b',
        SHUTDOWN_GRACE_PERIOD: '5 minutes',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems.map((p) => p.split(' ')[0]).sort()).toEqual(
      [
        'DATABASE_URL',
        'HTTP_PORT',
        'LOG_LEVEL',
        'NATS_SUBJECT_PREFIX',
        'NATS_URL',
        'SHUTDOWN_GRACE_PERIOD',
      ].sort(),
    );
    expect(err!.message).toContain('6 problems');
  });

  it('never echoes a secret value in errors', () => {
    const key = Buffer.alloc(16, 7).toString('base64');
    expect(() =>
      parseEnv(chatApiSchema, { DATABASE_URL: 'mysql://user:hunter2@db/x', AGENTMESH_ENCRYPTION_KEYS: key }),
    ).toThrow(ConfigError);
    try {
      parseEnv(chatApiSchema, { DATABASE_URL: 'mysql://user:hunter2@db/x', AGENTMESH_ENCRYPTION_KEYS: key });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
      expect((e as Error).message).not.toContain(key);
      expect((e as Error).message).toContain('key #1 must be the base64 encoding of exactly 32 bytes');
    }
  });

  it('accepts valid encryption keys', () => {
    const keys = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)].map((b) => b.toString('base64')).join(',');
    expect(
      parseEnv(chatApiSchema, { ...base, AGENTMESH_ENCRYPTION_KEYS: keys }).AGENTMESH_ENCRYPTION_KEYS,
    ).toBe(keys);
  });

  it('treats empty values as unset', () => {
    expect(parseEnv(chatApiSchema, { ...base, HTTP_PORT: '' }).HTTP_PORT).toBe(3000);
  });

  it('gives each worker its own default health port and dbpurge its interval', () => {
    expect(parseEnv(workerSchema('chatd-worker'), base).HEALTH_PORT).toBe(9101);
    expect(parseEnv(workerSchema('aibridge-recorder'), base).HEALTH_PORT).toBe(9102);
    expect(parseEnv(dbpurgeSchema, { ...base, PURGE_INTERVAL: '10m' })).toMatchObject({
      HEALTH_PORT: 9104,
      PURGE_INTERVAL: 600_000,
    });
  });

  it('parses durations, booleans and bounds strictly', () => {
    const s = {
      D: v.duration({ description: 'd', apps: 'all', min: 1000 }),
      B: v.bool({ description: 'b', apps: 'all' }),
      I: v.int({ description: 'i', apps: 'all', min: 1, max: 5 }),
    };
    expect(parseEnv(s, { D: '1500ms', B: 'off', I: '5' })).toEqual({ D: 1500, B: false, I: 5 });
    expect(() => parseEnv(s, { D: '10' })).toThrow('D must be at least 1000ms');
    expect(() => parseEnv(s, { B: 'maybe' })).toThrow('B must be a boolean');
    expect(() => parseEnv(s, { I: '6' })).toThrow('I must be <= 5');
    expect(() => parseEnv(s, { I: '1.5' })).toThrow('I must be an integer');
  });

  it('parses sizes with binary and decimal units, within bounds', () => {
    const s = { S: v.bytes({ description: 's', apps: 'all', min: 1024, max: 64 * 1024 ** 2 }) };
    expect(parseEnv(s, { S: '8MiB' })).toEqual({ S: 8 * 1024 ** 2 });
    expect(parseEnv(s, { S: '512 KiB' })).toEqual({ S: 512 * 1024 });
    expect(parseEnv(s, { S: '2mb' })).toEqual({ S: 2_000_000 });
    expect(parseEnv(s, { S: '4096' })).toEqual({ S: 4096 });
    expect(() => parseEnv(s, { S: '1.5MiB' })).toThrow('S must be a size like 1048576, 512KiB or 8MiB');
    expect(() => parseEnv(s, { S: '3 parsecs' })).toThrow('S must be a size like');
    expect(() => parseEnv(s, { S: '1000' })).toThrow('S must be at least 1024 bytes, got 1000');
    expect(() => parseEnv(s, { S: '1GiB' })).toThrow('S must be at most 67108864 bytes');
  });
});

describe('redactConfig', () => {
  it('replaces secrets with set/unset markers', () => {
    const cfg = parseEnv(chatApiSchema, base);
    const safe = redactConfig(chatApiSchema, cfg);
    expect(safe.DATABASE_URL).toBe('(set)');
    expect(safe.AGENTMESH_ENCRYPTION_KEYS).toBe('(unset)');
    expect(safe.HTTP_PORT).toBe(3000);
  });
});
