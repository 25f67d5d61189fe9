// Database lifecycle for tests: a template database migrated once per Jest run, and a
// fresh clone of it per test suite (CREATE DATABASE … TEMPLATE copies files, ~100 ms).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'am_test_';
const STALE_MS = 6 * 3_600_000;

export function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function withAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export function templateName(runId: string): string {
  return `${PREFIX}${runId}_tpl`;
}

/** Drops databases left behind by runs older than STALE_MS (crashed or killed runs). */
export async function dropStaleDatabases(): Promise<void> {
  await withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${PREFIX}%`],
    );
    for (const { datname } of rows) {
      const ts = parseInt(datname.slice(PREFIX.length).split('_')[0], 36);
      if (Number.isFinite(ts) && Date.now() - ts > STALE_MS) {
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }
    }
  });
}

export async function dropRunDatabases(runId: string): Promise<void> {
  await withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${PREFIX}${runId}%`],
    );
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  });
}

/** Clones the template into a new database for one suite and returns its URL. */
export async function cloneTemplate(): Promise<{ name: string; url: string }> {
  const runId = process.env.AGENTMESH_TEST_RUN;
  if (!runId)
    throw new Error('AGENTMESH_TEST_RUN is unset: run tests through jest (globalSetup creates the template)');
  // Jest resets module state per test file, so a counter would repeat: use random bits.
  const name = `${PREFIX}${runId}_w${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  await withAdmin(async (c) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName(runId)}"`);
        return;
      } catch (e) {
        // 55006: the template is briefly in use by a concurrent clone; try again.
        if ((e as { code?: string }).code === '55006' && attempt < 50) {
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
          continue;
        }
        throw e;
      }
    }
  });
  return { name, url: dbUrl(name) };
}
