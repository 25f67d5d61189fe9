// The built apps as real processes: config validation at boot, /healthz /readyz /metrics,
// readiness following NATS and the schema, and graceful SIGTERM.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ALL_APPS, DEFAULT_HEALTH_PORTS } from '@agentmesh/config';
import { ALL_MIGRATIONS } from '@agentmesh/migrations';
import {
  appTestEnv,
  buildDist,
  freePort,
  PrivateNats,
  randomPrefix,
  startProcess,
  useTestDatabase,
  waitFor,
  withAdmin,
  dbUrl,
} from '@agentmesh/testing';

jest.setTimeout(90_000);

const entry = (app: string) => `apps/${app}/src/main.js`;

async function readyz(
  port: number,
): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { checks: Record<string, { ok: boolean; error?: string }> },
  };
}

beforeAll(() => buildDist());

describe('config validation at boot', () => {
  it.each(ALL_APPS)(
    '%s exits with code 2 naming every bad variable, without echoing secrets',
    async (app) => {
      const proc = startProcess(entry(app), {
        DATABASE_URL: 'mysql://secret-password@db/x',
        DB_POOL_SIZE: '0',
        NATS_URL: 'http://nats:4222',
        LOG_LEVEL: 'loud',
        AGENTMESH_ENCRYPTION_KEYS: 'c2VjcmV0LWtleQ==',
      });
      const { code } = await proc.exited;
      expect(code).toBe(2);
      const out = proc.output();
      for (const name of [
        'DATABASE_URL',
        'DB_POOL_SIZE',
        'NATS_URL',
        'LOG_LEVEL',
        'AGENTMESH_ENCRYPTION_KEYS',
      ])
        expect(out).toContain(name);
      expect(out).toContain('5 problems');
      expect(out).not.toContain('secret-password');
      expect(out).not.toContain('c2VjcmV0LWtleQ==');
    },
  );

  it('a missing required variable is named', async () => {
    const proc = startProcess(entry('dbpurge'), {});
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain('DATABASE_URL is required');
  });
});

describe('worker health and readiness', () => {
  const db = useTestDatabase();
  let nats: PrivateNats;
  beforeAll(async () => {
    nats = await PrivateNats.create();
  });
  afterAll(() => nats.destroy());

  it('serves /healthz and /metrics on the internal port; /readyz follows NATS down and back up; SIGTERM exits 0', async () => {
    const port = await freePort();
    const proc = startProcess(
      entry('chatd-worker'),
      appTestEnv(db.url, randomPrefix(), {
        NATS_URL: nats.url,
        HEALTH_PORT: String(port),
        SHUTDOWN_GRACE_PERIOD: '5s',
        LOG_LEVEL: 'info',
      }),
    );
    try {
      await waitFor('ready', async () => (await readyz(port)).status === 200);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^agentmesh_nats_connected\{app="chatd-worker"\} 1$/m);
      expect(metrics).toMatch(/^agentmesh_process_cpu_seconds_total/m);
      // The worker has no public API.
      expect((await fetch(`http://127.0.0.1:${port}/api/v2/users/first`)).status).toBe(404);

      await nats.stop();
      const down = await waitFor('not ready', async () => {
        const r = await readyz(port);
        return r.status === 503 ? r : undefined;
      });
      expect(down.body.checks.nats.ok).toBe(false);
      expect(down.body.checks.postgres.ok).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      await nats.start();
      await waitFor('ready again', async () => (await readyz(port)).status === 200, 30_000);

      proc.child.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      expect(proc.output()).toContain('shutdown complete');
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it('reports not ready while migrations are pending, and ready once migrated', async () => {
    const name = `${db.name}_empty`;
    await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
    const port = await freePort();
    const proc = startProcess(
      entry('dbpurge'),
      appTestEnv(dbUrl(name), randomPrefix(), { NATS_URL: nats.url, HEALTH_PORT: String(port) }),
    );
    try {
      const r = await waitFor('schema check result', async () => {
        const res = await readyz(port);
        return res.body.checks.schema ? res : undefined;
      });
      expect(r.status).toBe(503);
      expect(r.body.checks.schema.error).toBe(
        `${ALL_MIGRATIONS.length} migration(s) pending (${ALL_MIGRATIONS.map((m) => m.name).join(', ')}): ` +
          'run the migration job (npm run migrate)',
      );
      const migrate = startProcess('migrations/cli.js', { DATABASE_URL: dbUrl(name) }, ['migrate']);
      expect((await migrate.exited).code).toBe(0);
      await waitFor('ready after migrate', async () => (await readyz(port)).status === 200);
    } finally {
      proc.child.kill('SIGKILL');
      await proc.exited;
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    }
  });
});

describe('tracing', () => {
  const db = useTestDatabase();

  it('exports spans over OTLP/HTTP only when an endpoint is configured, flushing on SIGTERM', async () => {
    const received: { path: string; type: string; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const { port: otlpPort } = receiver.address() as AddressInfo;
    const port = await freePort();
    const proc = startProcess(
      entry('dbpurge'),
      appTestEnv(db.url, randomPrefix(), {
        HEALTH_PORT: String(port),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      }),
    );
    try {
      await waitFor('ready', async () => (await readyz(port)).status === 200);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      expect(res.status).toBe(200);
      proc.child.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
      const traces = received.filter((r) => r.path === '/v1/traces');
      expect(traces.length).toBeGreaterThan(0);
      const all = traces.map((t) => t.body).join('');
      expect(all).toContain('dbpurge');
      // The server span continued the caller's trace.
      expect(all).toContain('0af7651916cd43dd8448eb211c80319c');
    } finally {
      proc.child.kill('SIGKILL');
      await new Promise((r) => receiver.close(r));
    }
  });
});

it('uses distinct default health ports for the worker apps', () => {
  expect(new Set(Object.values(DEFAULT_HEALTH_PORTS)).size).toBe(4);
});
