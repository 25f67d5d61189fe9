// Admin chat configuration against a real chat-api, Postgres and NATS: providers (keys
// write-only and encrypted at rest, provider deletion soft-deleting its model configs and
// re-electing the default), model configs (validation, one default, visibility), the
// deployment system prompt, config.changed events, and bad input on every endpoint.
import { randomBytes } from 'node:crypto';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { AgentmeshClient, ConfigChangedEvent } from '@agentmesh/contracts';
import { decryptWithKey, encryptionKey, keyDigest } from '@agentmesh/crypto';
import { TEST_NATS_URL } from '@agentmesh/testing';
import { ConfigEvents } from '../src/chat-config/config-events.service';
import { DEFAULT_SYSTEM_PROMPT } from '../src/chat-config/constants';
import { ModelConfigsService } from '../src/chat-config/model-configs.service';
import { SystemPromptService } from '../src/chat-config/system-prompt.service';
import { ChatApiHarness, setupOwner, useChatApi } from './harness';

const BASE = '/api/experimental/chats';
const NIL = '00000000-0000-0000-0000-000000000000';
const ZERO = '0001-01-01T00:00:00Z';
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUPPORTED = [
  'anthropic',
  'azure',
  'bedrock',
  'google',
  'openai',
  'openai-compat',
  'openrouter',
  'vercel',
];
const DISPLAY: Record<string, string> = {
  anthropic: 'Anthropic',
  azure: 'Azure OpenAI',
  bedrock: 'AWS Bedrock',
  google: 'Google',
  openai: 'OpenAI',
  'openai-compat': 'OpenAI Compatible',
  openrouter: 'OpenRouter',
  vercel: 'Vercel AI Gateway',
};

type Json = Record<string, unknown>;

interface Suite {
  h: ChatApiHarness;
  owner: AgentmeshClient;
  member: AgentmeshClient;
  auditor: AgentmeshClient;
  db: Client;
}

/** Starts chat-api for a describe block, with an owner, a plain member and an auditor. */
function useSuite(env: Record<string, string> = {}): Suite {
  const h = useChatApi({ LOGIN_RATE_LIMIT_ACCOUNT: '1000', LOGIN_RATE_LIMIT_IP: '1000', ...env });
  const s = { h } as Suite;
  beforeAll(async () => {
    s.owner = (await setupOwner(h)).client;
    for (const [name, roles] of [
      ['member', []],
      ['auditor', ['auditor']],
    ] as const) {
      await s.owner.createUser({
        email: `${name}@example.com`,
        username: name,
        password: `${name} password 1`,
        user_status: 'active',
      });
      if (roles.length) await s.owner.updateUserRoles(name, [...roles]);
      const c = h.client();
      await c.login({ email: `${name}@example.com`, password: `${name} password 1` });
      s[name] = c;
    }
    s.db = new Client({ connectionString: h.db.url });
    await s.db.connect();
  });
  afterAll(async () => {
    await s.db?.end();
  });
  return s;
}

async function resetConfig(db: Client): Promise<void> {
  await db.query(`DELETE FROM chat_model_configs; DELETE FROM chat_providers;
    DELETE FROM site_configs WHERE key LIKE 'agents_chat_%'`);
}

async function call(c: AgentmeshClient, method: string, path: string, body?: unknown) {
  return c.raw(method, `${BASE}${path}`, body === undefined ? {} : { body });
}

/** Expects an error response with the status and message; returns its body. */
async function expectError(
  c: AgentmeshClient,
  method: string,
  path: string,
  body: unknown,
  status: number,
  message?: string,
): Promise<Json> {
  const res = await call(c, method, path, body);
  expect({ status: res.status, body: res.body }).toMatchObject({
    status,
    ...(message ? { body: { message } } : {}),
  });
  return res.body as Json;
}

async function expectOk<T = Json>(
  c: AgentmeshClient,
  method: string,
  path: string,
  body: unknown,
  status: number,
): Promise<T> {
  const res = await call(c, method, path, body);
  if (res.status !== status)
    throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as T;
}

const createProvider = (c: AgentmeshClient, body: Json) => expectOk<Json>(c, 'POST', '/providers', body, 201);
const createConfig = (c: AgentmeshClient, body: Json) =>
  expectOk<Json>(c, 'POST', '/model-configs', { context_limit: 100000, ...body }, 201);

async function configRows(db: Client) {
  const { rows } = await db.query(
    `SELECT id, provider, model, is_default, deleted, deleted_at IS NOT NULL AS has_deleted_at
       FROM chat_model_configs ORDER BY created_at, id`,
  );
  return rows;
}

/** The default among the live configs, from the database. */
async function defaultConfigId(db: Client): Promise<string | undefined> {
  const { rows } = await db.query(`SELECT id FROM chat_model_configs WHERE is_default AND NOT deleted`);
  expect(rows.length).toBeLessThanOrEqual(1);
  return rows[0]?.id;
}

/** Waits until some backend waits on a lock (a request parked behind our transaction). */
async function waitForLockWaiter(db: Client): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no request blocked on a lock');
}

describe('chat config', () => {
  const s = useSuite();

  describe('providers', () => {
    beforeEach(() => resetConfig(s.db));

    it('GET lists every supported provider, synthesizing the unconfigured ones', async () => {
      const list = await expectOk<Json[]>(s.owner, 'GET', '/providers', undefined, 200);
      expect(list).toEqual(
        SUPPORTED.map((provider) => ({
          id: NIL,
          provider,
          display_name: DISPLAY[provider],
          enabled: false,
          has_api_key: false,
          central_api_key_enabled: true,
          allow_user_api_key: false,
          allow_central_api_key_fallback: false,
          source: 'supported',
          created_at: ZERO,
          updated_at: ZERO,
        })),
      );
    });

    it('POST creates a provider (201); the key is write-only and, with no keys configured, stored as plaintext', async () => {
      const created = await createProvider(s.owner, {
        provider: ' OpenAI ',
        display_name: '  OpenAI Primary ',
        api_key: ' sk-secret-1 ',
        base_url: 'https://llm.example.com/v1',
      });
      expect(created).toEqual({
        id: expect.stringMatching(UUID),
        provider: 'openai',
        display_name: 'OpenAI Primary',
        enabled: true,
        has_api_key: true,
        central_api_key_enabled: true,
        allow_user_api_key: false,
        allow_central_api_key_fallback: false,
        base_url: 'https://llm.example.com/v1',
        source: 'database',
        created_at: expect.stringMatching(TIME),
        updated_at: expect.stringMatching(TIME),
      });
      expect(JSON.stringify(created)).not.toContain('sk-secret-1');
      const { rows } = await s.db.query(`SELECT api_key, api_key_key_id, created_by FROM chat_providers`);
      expect(rows).toEqual([
        { api_key: 'sk-secret-1', api_key_key_id: null, created_by: expect.any(String) },
      ]);

      const list = await expectOk<Json[]>(s.owner, 'GET', '/providers', undefined, 200);
      expect(list.map((p) => [p.provider, p.source, p.id])).toEqual(
        SUPPORTED.map((p) => [
          p,
          p === 'openai' ? 'database' : 'supported',
          p === 'openai' ? created.id : NIL,
        ]),
      );
      expect(list.find((p) => p.provider === 'openai')).toEqual(created);
      expect(JSON.stringify(list)).not.toContain('sk-secret-1');
    });

    it('defaults the display name, accepts the openai-compat aliases and a keyless Bedrock or user-key-only provider', async () => {
      const compat = await createProvider(s.owner, {
        provider: 'openai_compat',
        api_key: 'k',
        base_url: 'http://127.0.0.1:8000/v1',
      });
      expect(compat).toMatchObject({ provider: 'openai-compat', display_name: 'OpenAI Compatible' });
      const bedrock = await createProvider(s.owner, { provider: 'bedrock' });
      expect(bedrock).toMatchObject({ has_api_key: false, central_api_key_enabled: true, enabled: true });
      expect(bedrock).not.toHaveProperty('base_url');
      const userOnly = await createProvider(s.owner, {
        provider: 'anthropic',
        central_api_key_enabled: false,
        allow_user_api_key: true,
        enabled: false,
      });
      expect(userOnly).toMatchObject({
        has_api_key: false,
        central_api_key_enabled: false,
        allow_user_api_key: true,
        allow_central_api_key_fallback: false,
        enabled: false,
      });
    });

    it('POST rejects a duplicate provider with 409', async () => {
      await createProvider(s.owner, { provider: 'openai', api_key: 'k1' });
      const body = await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'OPENAI', api_key: 'k2' },
        409,
        'Chat provider already exists.',
      );
      expect(JSON.stringify(body)).not.toMatch(/duplicate key|constraint/);
    });

    it('POST applies the reference rules with its messages', async () => {
      const invalid = await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'acme', api_key: 'k' },
        400,
        'Invalid provider.',
      );
      expect(invalid.detail).toBe(`Provider must be one of: ${SUPPORTED.join(', ')}.`);
      await expectError(s.owner, 'POST', '/providers', { api_key: 'k' }, 400, 'Invalid provider.');

      for (const base_url of ['ftp://example.com', 'not a url', '/v1', 'http://', 'javascript:alert(1)']) {
        await expectError(
          s.owner,
          'POST',
          '/providers',
          { provider: 'openai', api_key: 'k', base_url },
          400,
          'Invalid provider base URL.',
        );
      }
      await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'openai', api_key: 'k', base_url: `https://example.com/${'a'.repeat(5000)}` },
        400,
        'Invalid provider base URL.',
      );

      const tooLarge = await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'openai', api_key: 'a'.repeat(10241) },
        400,
        'API key too large.',
      );
      expect(tooLarge.detail).toBe('API key exceeds maximum size of 10240 bytes');

      for (const [central, user, fallback] of [
        [false, false, false],
        [false, true, true],
        [true, false, true],
      ]) {
        await expectError(
          s.owner,
          'POST',
          '/providers',
          {
            provider: 'openai',
            api_key: 'k',
            central_api_key_enabled: central,
            allow_user_api_key: user,
            allow_central_api_key_fallback: fallback,
          },
          400,
          'Invalid credential policy.',
        );
      }
      await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'google' },
        400,
        'API key is required when central API key is enabled.',
      );
      await expectError(
        s.owner,
        'POST',
        '/providers',
        { provider: 'google', api_key: '   ', central_api_key_enabled: true },
        400,
        'API key is required when central API key is enabled.',
      );
      // Nothing was written by any of them; the largest accepted key is exactly 10 KiB.
      expect((await s.db.query(`SELECT count(*)::int AS n FROM chat_providers`)).rows[0].n).toBe(0);
      await createProvider(s.owner, { provider: 'openai', api_key: 'a'.repeat(10240) });
    });

    it('PATCH updates fields (200), keeps what is not sent, and "" clears the key', async () => {
      const created = await createProvider(s.owner, {
        provider: 'openai',
        api_key: 'sk-1',
        display_name: 'One',
      });
      const updated = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { display_name: 'OpenAI Updated', enabled: false, base_url: 'https://example.com/v1' },
        200,
      );
      expect(updated).toEqual({
        ...created,
        display_name: 'OpenAI Updated',
        enabled: false,
        base_url: 'https://example.com/v1',
        updated_at: expect.stringMatching(TIME),
      });
      expect(Date.parse(updated.updated_at as string)).toBeGreaterThanOrEqual(
        Date.parse(created.updated_at as string),
      );

      // Empty strings keep the display name; "" base URL restores the default endpoint.
      const same = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { display_name: '', base_url: '' },
        200,
      );
      expect(same.display_name).toBe('OpenAI Updated');
      expect(same).not.toHaveProperty('base_url');

      // Clearing the only central key while the central key is enabled is refused.
      await expectError(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { api_key: '' },
        400,
        'API key is required when central API key is enabled.',
      );
      const rotated = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { api_key: 'sk-2' },
        200,
      );
      expect(rotated.has_api_key).toBe(true);
      expect((await s.db.query(`SELECT api_key FROM chat_providers`)).rows[0].api_key).toBe('sk-2');

      const cleared = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { api_key: '', central_api_key_enabled: false, allow_user_api_key: true },
        200,
      );
      expect(cleared).toMatchObject({
        has_api_key: false,
        central_api_key_enabled: false,
        allow_user_api_key: true,
      });
      expect((await s.db.query(`SELECT api_key, api_key_key_id FROM chat_providers`)).rows[0]).toEqual({
        api_key: '',
        api_key_key_id: null,
      });

      // An empty body changes nothing.
      const unchanged = await expectOk<Json>(s.owner, 'PATCH', `/providers/${created.id}`, {}, 200);
      expect({ ...unchanged, updated_at: '' }).toEqual({ ...cleared, updated_at: '' });

      for (const [central, user, fallback] of [
        [false, false, false],
        [false, true, true],
      ]) {
        await expectError(
          s.owner,
          'PATCH',
          `/providers/${created.id}`,
          {
            central_api_key_enabled: central,
            allow_user_api_key: user,
            allow_central_api_key_fallback: fallback,
          },
          400,
          'Invalid credential policy.',
        );
      }
      await expectError(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { central_api_key_enabled: true },
        400,
        'API key is required when central API key is enabled.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { base_url: 'gopher://x' },
        400,
        'Invalid provider base URL.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/providers/${created.id}`,
        { api_key: 'x'.repeat(10241) },
        400,
        'API key too large.',
      );
    });

    it('PATCH and DELETE: unknown ids are 404, malformed ids 400 "Invalid chat provider ID."', async () => {
      const missing = '7d0c8f2e-8f0b-4a43-9d53-3f5b2f6f0a11';
      await expectError(s.owner, 'PATCH', `/providers/${missing}`, { display_name: 'x' }, 404);
      await expectError(s.owner, 'DELETE', `/providers/${missing}`, undefined, 404);
      await expectError(
        s.owner,
        'PATCH',
        '/providers/not-a-uuid',
        { display_name: 'x' },
        400,
        'Invalid chat provider ID.',
      );
      await expectError(
        s.owner,
        'DELETE',
        '/providers/not-a-uuid',
        undefined,
        400,
        'Invalid chat provider ID.',
      );
      await expectError(s.owner, 'DELETE', `/providers/${NIL}`, undefined, 404);
    });

    it('malformed bodies are 4xx naming the field, never 500', async () => {
      const cases: [unknown, string][] = [
        [{ provider: 5, api_key: 'k' }, 'provider'],
        [{ provider: 'openai', api_key: { nested: true } }, 'api_key'],
        [{ provider: 'openai', api_key: 'k', enabled: 'yes' }, 'enabled'],
        [{ provider: 'openai', api_key: 'k', central_api_key_enabled: 1 }, 'central_api_key_enabled'],
        [{ provider: 'openai', api_key: 'k', allow_user_api_key: [] }, 'allow_user_api_key'],
        [{ provider: 'openai', api_key: 'k', base_url: 42 }, 'base_url'],
        [{ provider: 'openai', api_key: 'k', display_name: 'x'.repeat(300) }, 'display_name'],
        [{ provider: 'x'.repeat(100_000), api_key: 'k' }, 'provider'],
      ];
      for (const [body, field] of cases) {
        const err = await expectError(s.owner, 'POST', '/providers', body, 400);
        expect(err.validations).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      }
      for (const rawBody of ['[]', '"text"', 'null', '{"provider":', '7']) {
        const res = await s.owner.raw('POST', `${BASE}/providers`, {
          rawBody,
          headers: { 'Content-Type': 'application/json' },
        });
        expect(res.status).toBe(400);
      }
      const form = await s.owner.raw('POST', `${BASE}/providers`, {
        rawBody: 'provider=openai',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).toBe(415);
      const nul = await call(s.owner, 'POST', '/providers', { provider: 'openai', api_key: 'a\u0000b' });
      expect(nul.status).toBe(400);

      const created = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      const err = await expectError(s.owner, 'PATCH', `/providers/${created.id}`, { enabled: 'no' }, 400);
      expect(err.validations).toEqual([{ field: 'enabled', detail: 'must be a boolean' }]);
      expect((await s.db.query(`SELECT count(*)::int AS n FROM chat_providers`)).rows[0].n).toBe(1);
    });

    it('a plain member gets 403 on every provider endpoint; an auditor may read but not write', async () => {
      const created = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      await expectError(s.member, 'GET', '/providers', undefined, 403);
      await expectError(s.member, 'POST', '/providers', { provider: 'anthropic', api_key: 'k' }, 403);
      // The permission check comes before the body is looked at.
      await expectError(s.member, 'POST', '/providers', { provider: 5 }, 403);
      await expectError(s.member, 'PATCH', `/providers/${created.id}`, { display_name: 'x' }, 403);
      await expectError(s.member, 'DELETE', `/providers/${created.id}`, undefined, 403);

      const list = await expectOk<Json[]>(s.auditor, 'GET', '/providers', undefined, 200);
      expect(list).toHaveLength(SUPPORTED.length);
      await expectError(s.auditor, 'POST', '/providers', { provider: 'anthropic', api_key: 'k' }, 403);
      await expectError(s.auditor, 'DELETE', `/providers/${created.id}`, undefined, 403);
      expect((await s.db.query(`SELECT count(*)::int AS n FROM chat_providers`)).rows[0].n).toBe(1);

      const anon = s.h.client();
      expect((await call(anon, 'GET', '/providers')).status).toBe(401);
    });
  });

  describe('model configs', () => {
    let openai: Json;
    beforeEach(async () => {
      await resetConfig(s.db);
      openai = await createProvider(s.owner, { provider: 'openai', api_key: 'sk' });
    });

    it('POST against a provider that is not configured is 400 "Chat provider is not configured."', async () => {
      await expectError(
        s.owner,
        'POST',
        '/model-configs',
        { provider: 'anthropic', model: 'claude', context_limit: 1000 },
        400,
        'Chat provider is not configured.',
      );
      expect(await configRows(s.db)).toEqual([]);
    });

    it('POST creates the first config as the default with the reference defaults (201)', async () => {
      const created = await createConfig(s.owner, { provider: 'openai', model: ' gpt-4o-mini ' });
      expect(created).toEqual({
        id: expect.stringMatching(UUID),
        provider: 'openai',
        model: 'gpt-4o-mini',
        display_name: '',
        enabled: true,
        is_default: true,
        context_limit: 100000,
        compression_threshold: 70,
        created_at: expect.stringMatching(TIME),
        updated_at: expect.stringMatching(TIME),
      });
      const second = await createConfig(s.owner, {
        provider: 'openai',
        model: 'gpt-4o',
        display_name: 'GPT-4o',
        enabled: false,
        compression_threshold: 0,
      });
      expect(second).toMatchObject({ is_default: false, enabled: false, compression_threshold: 0 });
      const third = await createConfig(s.owner, { provider: 'openai', model: 'o3', is_default: true });
      expect(third.is_default).toBe(true);
      expect(await defaultConfigId(s.db)).toBe(third.id);
      const list = await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200);
      expect(list.map((c) => [c.model, c.is_default])).toEqual([
        ['gpt-4o', false],
        ['gpt-4o-mini', false],
        ['o3', true],
      ]);
    });

    it('model_config: prices accepted as numbers or strings (and legacy top-level keys), emitted as strings in cost', async () => {
      const created = await createConfig(s.owner, {
        provider: 'openai',
        model: 'gpt-5',
        model_config: {
          max_output_tokens: 16000,
          temperature: 0.2,
          top_p: 1,
          cost: { input_price_per_million_tokens: 1.25, output_price_per_million_tokens: '10.00' },
          cache_read_price_per_million_tokens: 0.125,
          cache_write_price_per_million_tokens: '1e-1',
          provider_options: {
            openai: {
              service_tier: 'flex',
              reasoning_summary: 'detailed',
              reasoning_effort: 'high',
              parallel_tool_calls: true,
              some_new_option: { kept: 'as is' },
            },
            anthropic: null,
          },
        },
      });
      const expected = {
        max_output_tokens: 16000,
        temperature: 0.2,
        top_p: 1,
        cost: {
          input_price_per_million_tokens: '1.25',
          output_price_per_million_tokens: '10',
          cache_read_price_per_million_tokens: '0.125',
          cache_write_price_per_million_tokens: '0.1',
        },
        provider_options: {
          openai: {
            service_tier: 'flex',
            reasoning_summary: 'detailed',
            reasoning_effort: 'high',
            parallel_tool_calls: true,
            some_new_option: { kept: 'as is' },
          },
        },
      };
      expect(created.model_config).toEqual(expected);
      const { rows } = await s.db.query(`SELECT options FROM chat_model_configs WHERE id = $1`, [created.id]);
      expect(rows[0].options).toEqual(expected);

      // Every enum value the reference allows is accepted.
      for (const service_tier of ['auto', 'default', 'flex', 'scale', 'priority'])
        for (const reasoning_summary of ['auto', 'concise', 'detailed'])
          await expectOk(
            s.owner,
            'PATCH',
            `/model-configs/${created.id}`,
            { model_config: { provider_options: { openai: { service_tier, reasoning_summary } } } },
            200,
          );

      // An empty model_config clears the options; model_config is then omitted.
      const cleared = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { model_config: {} },
        200,
      );
      expect(cleared).not.toHaveProperty('model_config');
      const zero = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { model_config: { cost: { input_price_per_million_tokens: 0 }, provider_options: {} } },
        200,
      );
      expect(zero.model_config).toEqual({ cost: { input_price_per_million_tokens: '0' } });
    });

    it('reads legacy rows with top-level prices as cost strings', async () => {
      const created = await createConfig(s.owner, { provider: 'openai', model: 'legacy' });
      await s.db.query(`UPDATE chat_model_configs SET options = $2 WHERE id = $1`, [
        created.id,
        JSON.stringify({ input_price_per_million_tokens: 0.15, output_price_per_million_tokens: 0.6 }),
      ]);
      const [listed] = await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200);
      expect(listed.model_config).toEqual({
        cost: { input_price_per_million_tokens: '0.15', output_price_per_million_tokens: '0.6' },
      });
    });

    it('POST validates with the reference messages and names the field', async () => {
      const ok = { provider: 'openai', model: 'm', context_limit: 1 };
      const opts = (model_config: unknown) => ({ ...ok, model_config });
      const cases: [Json, string, string?, string?][] = [
        [{ ...ok, provider: 'acme' }, 'Invalid provider.'],
        [{ ...ok, provider: undefined }, 'Invalid provider.'],
        [{ ...ok, model: undefined }, 'Model is required.'],
        [{ ...ok, model: '   ' }, 'Model is required.'],
        [{ ...ok, context_limit: undefined }, 'Context limit is required.'],
        [{ ...ok, context_limit: 0 }, 'Context limit is required.'],
        [{ ...ok, context_limit: -5 }, 'Context limit is required.'],
        [{ ...ok, compression_threshold: 101 }, 'Invalid compression threshold.'],
        [{ ...ok, compression_threshold: -1 }, 'Invalid compression threshold.'],
        [
          opts({ cost: { input_price_per_million_tokens: '-0.01' } }),
          'Invalid model config.',
          'model_config.cost.input_price_per_million_tokens',
          'cost.input_price_per_million_tokens must be greater than or equal to zero',
        ],
        [
          opts({ output_price_per_million_tokens: -1 }),
          'Invalid model config.',
          'model_config.output_price_per_million_tokens',
          'output_price_per_million_tokens must be greater than or equal to zero',
        ],
        [
          opts({ cost: { input_price_per_million_tokens: 'cheap' } }),
          'Invalid model config.',
          'model_config.cost.input_price_per_million_tokens',
        ],
        [
          opts({ cost: { input_price_per_million_tokens: true } }),
          'Invalid model config.',
          'model_config.cost.input_price_per_million_tokens',
        ],
        [opts({ cost: { input_price: 1 } }), 'Invalid model config.', 'model_config.cost.input_price'],
        [
          opts({ provider_options: { openai: { service_tier: 'turbo' } } }),
          'Invalid model config.',
          'model_config.provider_options.openai.service_tier',
          'provider_options.openai.service_tier must be one of: auto, default, flex, scale, priority',
        ],
        [
          opts({ provider_options: { openai: { reasoning_summary: 'verbose' } } }),
          'Invalid model config.',
          'model_config.provider_options.openai.reasoning_summary',
          'provider_options.openai.reasoning_summary must be one of: auto, concise, detailed',
        ],
        [
          opts({ provider_options: { anthropic: { thinking: { budget_tokens: 'lots' } } } }),
          'Invalid model config.',
          'model_config.provider_options.anthropic.thinking.budget_tokens',
        ],
        [
          opts({ provider_options: { acme: {} } }),
          'Invalid model config.',
          'model_config.provider_options.acme',
        ],
        [
          opts({ provider_options: { openai: 'x' } }),
          'Invalid model config.',
          'model_config.provider_options.openai',
        ],
        [opts({ temperature: 'hot' }), 'Invalid model config.', 'model_config.temperature'],
        [opts({ temperature: 3 }), 'Invalid model config.', 'model_config.temperature'],
        [opts({ max_output_tokens: 1.5 }), 'Invalid model config.', 'model_config.max_output_tokens'],
        [opts({ unknown_setting: 1 }), 'Invalid model config.', 'model_config.unknown_setting'],
        [opts('fast'), 'Invalid model config.', 'model_config'],
        [opts([1]), 'Invalid model config.', 'model_config'],
        [
          opts({ provider_options: { openai: { blob: 'x'.repeat(70 * 1024) } } }),
          'Invalid model config.',
          'model_config',
        ],
        [{ ...ok, context_limit: 'big' }, 'Validation failed.', 'context_limit'],
        [{ ...ok, context_limit: 1.5 }, 'Validation failed.', 'context_limit'],
        [{ ...ok, context_limit: 1e20 }, 'Validation failed.', 'context_limit'],
        [{ ...ok, compression_threshold: 50.5 }, 'Validation failed.', 'compression_threshold'],
        [{ ...ok, compression_threshold: '70' }, 'Validation failed.', 'compression_threshold'],
        [{ ...ok, enabled: 'true' }, 'Validation failed.', 'enabled'],
        [{ ...ok, is_default: 1 }, 'Validation failed.', 'is_default'],
        [{ ...ok, model: 'x'.repeat(10_000) }, 'Validation failed.', 'model'],
        [{ ...ok, display_name: ['a'] }, 'Validation failed.', 'display_name'],
        [{ ...ok, provider: ['openai'] }, 'Validation failed.', 'provider'],
      ];
      for (const [body, message, field, detail] of cases) {
        const res = await call(s.owner, 'POST', '/model-configs', body);
        const err = res.body as Json;
        expect({ body, status: res.status, message: err.message }).toEqual({ body, status: 400, message });
        if (field) expect(err.validations).toEqual([expect.objectContaining({ field })]);
        if (detail) expect(err.detail).toBe(detail);
      }
      expect(await configRows(s.db)).toEqual([]);
    });

    it('PATCH updates (200): empty strings keep stored values, context_limit ≤ 0 and other bad values are 400', async () => {
      const created = await createConfig(s.owner, {
        provider: 'openai',
        model: 'gpt-4o',
        display_name: 'Four',
      });
      const updated = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        {
          model: '',
          display_name: '',
          context_limit: 8192,
          compression_threshold: 90,
          enabled: false,
          model_config: { cost: { input_price_per_million_tokens: '0.2' } },
        },
        200,
      );
      expect(updated).toEqual({
        ...created,
        context_limit: 8192,
        compression_threshold: 90,
        enabled: false,
        model_config: { cost: { input_price_per_million_tokens: '0.2' } },
        updated_at: expect.stringMatching(TIME),
      });
      // Without model_config the stored options stay.
      const renamed = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { model: 'gpt-4.1', display_name: 'GPT 4.1' },
        200,
      );
      expect(renamed).toMatchObject({
        model: 'gpt-4.1',
        display_name: 'GPT 4.1',
        model_config: updated.model_config,
      });

      await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { context_limit: 0 },
        400,
        'Context limit must be greater than zero.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { compression_threshold: 101 },
        400,
        'Invalid compression threshold.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { model_config: { provider_options: { openai: { service_tier: 'fastest' } } } },
        400,
        'Invalid model config.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { provider: 'acme' },
        400,
        'Invalid provider.',
      );
      await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { provider: 'anthropic' },
        400,
        'Chat provider is not configured.',
      );
      const err = await expectError(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { context_limit: '5' },
        400,
      );
      expect(err.validations).toEqual([{ field: 'context_limit', detail: 'must be an integer' }]);

      await createProvider(s.owner, { provider: 'anthropic', api_key: 'k' });
      const moved = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${created.id}`,
        { provider: 'Anthropic' },
        200,
      );
      expect(moved.provider).toBe('anthropic');

      const missing = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
      await expectError(s.owner, 'PATCH', `/model-configs/${missing}`, { display_name: 'x' }, 404);
      await expectError(
        s.owner,
        'PATCH',
        '/model-configs/not-a-uuid',
        { display_name: 'x' },
        400,
        'Invalid chat model config ID.',
      );
    });

    it('unsetting the default promotes the first other config; a lone config stays the default', async () => {
      const only = await createConfig(s.owner, { provider: 'openai', model: 'solo' });
      const still = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${only.id}`,
        { is_default: false },
        200,
      );
      expect(still.is_default).toBe(true);

      const b = await createConfig(s.owner, { provider: 'openai', model: 'b-model' });
      const a = await createConfig(s.owner, { provider: 'openai', model: 'a-model' });
      const unset = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${only.id}`,
        { is_default: false },
        200,
      );
      expect(unset.is_default).toBe(false);
      // (provider, model) order: a-model comes first.
      expect(await defaultConfigId(s.db)).toBe(a.id);

      const setB = await expectOk<Json>(
        s.owner,
        'PATCH',
        `/model-configs/${b.id}`,
        { is_default: true },
        200,
      );
      expect(setB.is_default).toBe(true);
      expect(await defaultConfigId(s.db)).toBe(b.id);
    });

    it('DELETE soft-deletes (204) and re-elects the default; a second DELETE is 404', async () => {
      const first = await createConfig(s.owner, { provider: 'openai', model: 'm1' });
      const second = await createConfig(s.owner, { provider: 'openai', model: 'm2' });
      expect((await call(s.owner, 'DELETE', `/model-configs/${first.id}`)).status).toBe(204);
      const rows = await configRows(s.db);
      expect(rows).toEqual([
        {
          id: first.id,
          provider: 'openai',
          model: 'm1',
          is_default: false,
          deleted: true,
          has_deleted_at: true,
        },
        {
          id: second.id,
          provider: 'openai',
          model: 'm2',
          is_default: true,
          deleted: false,
          has_deleted_at: false,
        },
      ]);
      const list = await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200);
      expect(list.map((c) => c.id)).toEqual([second.id]);
      await expectError(s.owner, 'DELETE', `/model-configs/${first.id}`, undefined, 404);
      await expectError(s.owner, 'PATCH', `/model-configs/${first.id}`, { display_name: 'x' }, 404);
      await expectError(
        s.owner,
        'DELETE',
        '/model-configs/nope',
        undefined,
        400,
        'Invalid chat model config ID.',
      );
      expect((await call(s.owner, 'DELETE', `/model-configs/${second.id}`)).status).toBe(204);
      expect(await defaultConfigId(s.db)).toBeUndefined();
    });

    it('GET: admins see every live config, members only enabled configs of enabled providers', async () => {
      const anthropic = await createProvider(s.owner, { provider: 'anthropic', api_key: 'k' });
      const visible = await createConfig(s.owner, { provider: 'openai', model: 'visible' });
      const disabled = await createConfig(s.owner, { provider: 'openai', model: 'disabled', enabled: false });
      const offProvider = await createConfig(s.owner, { provider: 'anthropic', model: 'claude' });
      const deleted = await createConfig(s.owner, { provider: 'openai', model: 'deleted' });
      await expectOk(s.owner, 'PATCH', `/providers/${anthropic.id}`, { enabled: false }, 200);
      await call(s.owner, 'DELETE', `/model-configs/${deleted.id}`);

      const adminIds = (await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200)).map(
        (c) => c.id,
      );
      expect(adminIds).toEqual([offProvider.id, disabled.id, visible.id]);
      const auditorIds = (await expectOk<Json[]>(s.auditor, 'GET', '/model-configs', undefined, 200)).map(
        (c) => c.id,
      );
      expect(auditorIds).toEqual(adminIds);
      const memberList = await expectOk<Json[]>(s.member, 'GET', '/model-configs', undefined, 200);
      expect(memberList).toEqual([
        await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200).then((l) =>
          l.find((c) => c.id === visible.id),
        ),
      ]);
    });

    it('a member gets 403 on model config writes', async () => {
      const created = await createConfig(s.owner, { provider: 'openai', model: 'm' });
      await expectError(
        s.member,
        'POST',
        '/model-configs',
        { provider: 'openai', model: 'x', context_limit: 1 },
        403,
      );
      await expectError(s.member, 'POST', '/model-configs', { context_limit: 'bad' }, 403);
      await expectError(s.member, 'PATCH', `/model-configs/${created.id}`, { display_name: 'x' }, 403);
      await expectError(s.member, 'DELETE', `/model-configs/${created.id}`, undefined, 403);
      await expectError(s.auditor, 'PATCH', `/model-configs/${created.id}`, { display_name: 'x' }, 403);
      expect((await configRows(s.db)).map((r) => r.model)).toEqual(['m']);
    });

    it('a config that vanishes while an update waits for its locks is 404, not 500', async () => {
      const created = await createConfig(s.owner, { provider: 'openai', model: 'm' });
      const blocker = new Client({ connectionString: s.h.db.url });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT id FROM chat_providers WHERE provider = 'openai' FOR UPDATE`);
        const pending = call(s.owner, 'PATCH', `/model-configs/${created.id}`, { display_name: 'late' });
        await waitForLockWaiter(s.db);
        await blocker.query(
          `UPDATE chat_model_configs SET deleted = true, deleted_at = now() WHERE id = $1`,
          [created.id],
        );
        await blocker.query('COMMIT');
        const res = await pending;
        expect(res.status).toBe(404);
      } finally {
        await blocker.end();
      }
    });

    it('creating a config while its provider is being deleted sees the deletion (FOR UPDATE) and is 400', async () => {
      const blocker = new Client({ connectionString: s.h.db.url });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`DELETE FROM chat_providers WHERE id = $1`, [openai.id]);
        const pending = call(s.owner, 'POST', '/model-configs', {
          provider: 'openai',
          model: 'm',
          context_limit: 1,
        });
        await waitForLockWaiter(s.db);
        await blocker.query('COMMIT');
        const res = await pending;
        expect(res.status).toBe(400);
        expect((res.body as Json).message).toBe('Chat provider is not configured.');
        expect(await configRows(s.db)).toEqual([]);
      } finally {
        await blocker.end();
      }
    });

    it('concurrent creates and deletes leave exactly one default', async () => {
      const created = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          createConfig(s.owner, { provider: 'openai', model: `m${i}`, is_default: i % 2 === 0 }),
        ),
      );
      expect(await defaultConfigId(s.db)).toBeDefined();
      await Promise.all(created.slice(0, 6).map((c) => call(s.owner, 'DELETE', `/model-configs/${c.id}`)));
      const id = await defaultConfigId(s.db);
      expect(created.slice(6).map((c) => c.id)).toContain(id);
    });
  });

  describe('deleting a provider', () => {
    beforeEach(() => resetConfig(s.db));

    it('hard-deletes it, soft-deletes its configs and promotes the first live config in list order', async () => {
      const openai = await createProvider(s.owner, {
        provider: 'openai',
        api_key: 'k',
        allow_user_api_key: true,
      });
      const anthropic = await createProvider(s.owner, { provider: 'anthropic', api_key: 'k' });
      const google = await createProvider(s.owner, { provider: 'google', api_key: 'k' });
      const gone1 = await createConfig(s.owner, { provider: 'openai', model: 'gpt-a', is_default: true });
      const gone2 = await createConfig(s.owner, { provider: 'openai', model: 'gpt-b' });
      const claudeB = await createConfig(s.owner, { provider: 'anthropic', model: 'claude-b' });
      const claudeOld = await createConfig(s.owner, { provider: 'anthropic', model: 'claude-a' });
      const claudeNew = await createConfig(s.owner, { provider: 'anthropic', model: 'claude-a' });
      const gemini = await createConfig(s.owner, { provider: 'google', model: 'gemini' });
      // Same (provider, model): the most recently updated wins.
      await s.db.query(`UPDATE chat_model_configs SET updated_at = now() - interval '1 hour' WHERE id = $1`, [
        claudeOld.id,
      ]);
      const { rows: users } = await s.db.query(`SELECT id FROM users WHERE username = 'owner'`);
      await s.db.query(
        `INSERT INTO user_chat_provider_keys (user_id, chat_provider_id, api_key) VALUES ($1, $2, 'user-key')`,
        [users[0].id, openai.id],
      );

      expect((await call(s.owner, 'DELETE', `/providers/${openai.id}`)).status).toBe(204);

      expect((await s.db.query(`SELECT provider FROM chat_providers ORDER BY provider`)).rows).toEqual([
        { provider: 'anthropic' },
        { provider: 'google' },
      ]);
      expect((await s.db.query(`SELECT count(*)::int AS n FROM user_chat_provider_keys`)).rows[0].n).toBe(0);
      const rows = await configRows(s.db);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const c of [gone1, gone2])
        expect(byId.get(c.id)).toMatchObject({ deleted: true, has_deleted_at: true });
      for (const c of [claudeB, claudeOld, claudeNew, gemini]) expect(byId.get(c.id)?.deleted).toBe(false);
      expect(await defaultConfigId(s.db)).toBe(claudeNew.id);

      const list = await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200);
      expect(list.map((c) => [c.id, c.is_default])).toEqual([
        [claudeNew.id, true],
        [claudeOld.id, false],
        [claudeB.id, false],
        [gemini.id, false],
      ]);
      const providers = await expectOk<Json[]>(s.owner, 'GET', '/providers', undefined, 200);
      expect(providers.find((p) => p.provider === 'openai')).toMatchObject({ id: NIL, source: 'supported' });
      await expectError(s.owner, 'DELETE', `/providers/${openai.id}`, undefined, 404);

      // A default that is not the deleted provider's stays.
      expect((await call(s.owner, 'DELETE', `/providers/${google.id}`)).status).toBe(204);
      expect(await defaultConfigId(s.db)).toBe(claudeNew.id);

      // The last provider takes the last configs with it: no default remains.
      expect((await call(s.owner, 'DELETE', `/providers/${anthropic.id}`)).status).toBe(204);
      expect(await defaultConfigId(s.db)).toBeUndefined();
      expect(await expectOk<Json[]>(s.owner, 'GET', '/model-configs', undefined, 200)).toEqual([]);
    });

    it('deleted configs still resolve for reads; new chats fall back to the default', async () => {
      const openai = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      await createProvider(s.owner, { provider: 'anthropic', api_key: 'k' });
      const old = await createConfig(s.owner, { provider: 'openai', model: 'gpt' });
      const keep = await createConfig(s.owner, { provider: 'anthropic', model: 'claude' });
      await call(s.owner, 'DELETE', `/providers/${openai.id}`);

      const configs = s.h.app.app.get(ModelConfigsService, { strict: false });
      expect(await configs.findModelConfig(old.id as string)).toBeUndefined();
      expect(await configs.findModelConfig(old.id as string, { includeDeleted: true })).toMatchObject({
        id: old.id,
        model: 'gpt',
      });
      expect(await configs.resolveModelConfig()).toMatchObject({ id: keep.id, is_default: true });
      await expect(configs.resolveModelConfig(old.id as string)).rejects.toMatchObject({
        status: 400,
        message: 'Invalid model config ID.',
      });
    });
  });

  describe('resolveModelConfig (for chat creation)', () => {
    beforeEach(() => resetConfig(s.db));

    it('returns the named usable config or the default, else 400', async () => {
      const configs = s.h.app.app.get(ModelConfigsService, { strict: false });
      await expect(configs.resolveModelConfig()).rejects.toMatchObject({
        status: 400,
        message: 'No default chat model config is configured.',
      });
      const openai = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      const def = await createConfig(s.owner, {
        provider: 'openai',
        model: 'default',
        model_config: { cost: { input_price_per_million_tokens: 1 } },
      });
      const other = await createConfig(s.owner, { provider: 'openai', model: 'other' });
      const off = await createConfig(s.owner, { provider: 'openai', model: 'off', enabled: false });
      expect(await configs.resolveModelConfig()).toEqual(def);
      expect(await configs.resolveModelConfig(undefined)).toEqual(def);
      expect(await configs.resolveModelConfig(other.id as string)).toEqual(other);
      expect(await configs.resolveModelConfig((other.id as string).toUpperCase())).toEqual(other);
      for (const bad of [off.id as string, NIL, 'nope', '5b1d2a0c-0000-4000-8000-000000000000']) {
        await expect(configs.resolveModelConfig(bad)).rejects.toMatchObject({
          status: 400,
          message: 'Invalid model config ID.',
        });
      }
      await expectOk(s.owner, 'PATCH', `/providers/${openai.id}`, { enabled: false }, 200);
      await expect(configs.resolveModelConfig(other.id as string)).rejects.toMatchObject({ status: 400 });
    });

    it('with lock, holds the config so an admin cannot delete it until the caller commits', async () => {
      const configs = s.h.app.app.get(ModelConfigsService, { strict: false });
      await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      const config = await createConfig(s.owner, { provider: 'openai', model: 'held' });
      let locked!: () => void;
      let release!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const released = new Promise<void>((r) => (release = r));
      const tx = s.h.app.app.get(DataSource).transaction(async (em) => {
        expect(await configs.resolveModelConfig(config.id as string, { db: em, lock: true })).toEqual(config);
        locked();
        await released;
      });
      await isLocked;
      const deleting = call(s.owner, 'DELETE', `/model-configs/${config.id}`);
      await waitForLockWaiter(s.db);
      release();
      await tx;
      expect((await deleting).status).toBe(204);
    });
  });

  describe('system prompt', () => {
    beforeEach(async () => {
      await resetConfig(s.db);
      // resetConfig bypasses the API, so drop what the service cached.
      s.h.app.app.get(SystemPromptService, { strict: false }).invalidate();
    });
    const get = () => expectOk<Json>(s.owner, 'GET', '/config/system-prompt', undefined, 200);
    const put = (body: unknown) => call(s.owner, 'PUT', '/config/system-prompt', body);
    const siteConfigs = async () =>
      (await s.db.query(`SELECT key, value FROM site_configs WHERE key LIKE 'agents_chat_%' ORDER BY key`))
        .rows;

    it('GET returns the custom prompt, the include flag (default true) and the built-in default', async () => {
      expect(await get()).toEqual({
        system_prompt: '',
        include_default_system_prompt: true,
        default_system_prompt: DEFAULT_SYSTEM_PROMPT,
      });
      expect(DEFAULT_SYSTEM_PROMPT.length).toBeGreaterThan(200);
    });

    it('PUT stores both values (204); the flag changes only when sent', async () => {
      const res = await put({ system_prompt: 'Always answer in French.' });
      expect(res.status).toBe(204);
      expect(res.body).toBeUndefined();
      expect(await get()).toMatchObject({
        system_prompt: 'Always answer in French.',
        include_default_system_prompt: true,
      });
      expect(await siteConfigs()).toEqual([
        { key: 'agents_chat_include_default_system_prompt', value: 'true' },
        { key: 'agents_chat_system_prompt', value: 'Always answer in French.' },
      ]);

      expect((await put({ system_prompt: 'Be brief.', include_default_system_prompt: false })).status).toBe(
        204,
      );
      expect(await get()).toMatchObject({ system_prompt: 'Be brief.', include_default_system_prompt: false });
      expect((await put({ system_prompt: 'Be very brief.' })).status).toBe(204);
      expect(await get()).toMatchObject({
        system_prompt: 'Be very brief.',
        include_default_system_prompt: false,
      });
      expect((await put({ system_prompt: '', include_default_system_prompt: null })).status).toBe(204);
      expect(await get()).toMatchObject({ system_prompt: '', include_default_system_prompt: false });
      expect((await put({ system_prompt: '', include_default_system_prompt: true })).status).toBe(204);
      expect(await get()).toMatchObject({ system_prompt: '', include_default_system_prompt: true });
    });

    it('an unset flag counts as false when a legacy custom prompt exists, and PUT keeps that', async () => {
      await s.db.query(
        `INSERT INTO site_configs (key, value) VALUES ('agents_chat_system_prompt', 'legacy')`,
      );
      expect(await get()).toMatchObject({ system_prompt: 'legacy', include_default_system_prompt: false });
      expect((await put({ system_prompt: 'new' })).status).toBe(204);
      expect(await get()).toMatchObject({ system_prompt: 'new', include_default_system_prompt: false });
    });

    it('sanitizes the prompt and limits it to 128 KiB after sanitizing', async () => {
      expect(
        (await put({ system_prompt: '  Line one\r\nLine\u200B two\u0007\u202E\tend\uFEFF  ' })).status,
      ).toBe(204);
      expect((await get()).system_prompt).toBe('Line one\nLine two\tend');

      const limit = 128 * 1024;
      expect((await put({ system_prompt: 'a'.repeat(limit) + '\u200B'.repeat(100) })).status).toBe(204);
      expect(((await get()).system_prompt as string).length).toBe(limit);
      const tooLong = await put({ system_prompt: 'a'.repeat(limit - 1) + 'é' });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body).toMatchObject({
        message: 'System prompt exceeds maximum length.',
        validations: [{ field: 'system_prompt' }],
      });
      expect(((await get()).system_prompt as string).length).toBe(limit);
    });

    it('rejects malformed bodies naming the field', async () => {
      for (const [body, field] of [
        [{ system_prompt: 5 }, 'system_prompt'],
        [{}, 'system_prompt'],
        [{ system_prompt: null }, 'system_prompt'],
        [{ system_prompt: 'x', include_default_system_prompt: 'yes' }, 'include_default_system_prompt'],
      ] as const) {
        const res = await put(body);
        expect(res.status).toBe(400);
        expect((res.body as Json).validations).toEqual([expect.objectContaining({ field })]);
      }
      expect((await put(['x'])).status).toBe(400);
      expect(await siteConfigs()).toEqual([]);
    });

    it('GET is 404 and PUT 403 for callers who cannot update deployment config', async () => {
      for (const c of [s.member, s.auditor]) {
        await expectError(
          c,
          'GET',
          '/config/system-prompt',
          undefined,
          404,
          'Resource not found or you do not have access to this resource',
        );
        await expectError(c, 'PUT', '/config/system-prompt', { system_prompt: 'pwned' }, 403);
      }
      expect(await siteConfigs()).toEqual([]);
    });

    it('deploymentSystemPrompt() joins [default?, custom?] with a blank line', async () => {
      const prompts = s.h.app.app.get(SystemPromptService, { strict: false });
      expect(await prompts.deploymentSystemPrompt()).toBe(DEFAULT_SYSTEM_PROMPT);
      await put({ system_prompt: 'Custom rules.' });
      expect(await prompts.deploymentSystemPrompt()).toBe(`${DEFAULT_SYSTEM_PROMPT}\n\nCustom rules.`);
      await put({ system_prompt: 'Custom rules.', include_default_system_prompt: false });
      expect(await prompts.deploymentSystemPrompt()).toBe('Custom rules.');
      await put({ system_prompt: '' });
      expect(await prompts.deploymentSystemPrompt()).toBe('');
    });

    it('deploymentSystemPrompt() is cached until a system_prompt config.changed arrives from any replica', async () => {
      const prompts = s.h.app.app.get(SystemPromptService, { strict: false });
      // What this replica hears: its own changes at once, and every change again over NATS.
      const heard: string[] = [];
      const off = s.h.app.app.get(ConfigEvents, { strict: false }).onChanged((e) => heard.push(e.kind));
      const hearing = async (kind: string, times: number) => {
        for (let i = 0; i < 200 && heard.filter((k) => k === kind).length < times; i++)
          await new Promise((r) => setTimeout(r, 10));
        expect(heard.filter((k) => k === kind)).toHaveLength(times);
      };
      const nc = await connect({ servers: TEST_NATS_URL });
      try {
        await put({ system_prompt: 'v1', include_default_system_prompt: false });
        await hearing('system_prompt', 2);
        expect(await prompts.deploymentSystemPrompt()).toBe('v1');
        // Another replica's write: this replica keeps its cache until it hears of the change.
        await s.db.query(`UPDATE site_configs SET value = 'v2' WHERE key = 'agents_chat_system_prompt'`);
        expect(await prompts.deploymentSystemPrompt()).toBe('v1');
        const subject = new SubjectCatalog(s.h.prefix).subject(Subjects.configChanged);
        nc.publish(subject, JSON.stringify({ v: 1, kind: 'model_config' }));
        await hearing('model_config', 1);
        expect(await prompts.deploymentSystemPrompt()).toBe('v1');
        nc.publish(subject, JSON.stringify({ v: 1, kind: 'system_prompt' }));
        await hearing('system_prompt', 3);
        expect(await prompts.deploymentSystemPrompt()).toBe('v2');
      } finally {
        off();
        await nc.close();
      }
    });
  });

  describe('config.changed events', () => {
    let nc: NatsConnection;
    const events: ConfigChangedEvent[] = [];
    beforeAll(async () => {
      await resetConfig(s.db);
      nc = await connect({ servers: TEST_NATS_URL });
      const subject = new SubjectCatalog(s.h.prefix).subject(Subjects.configChanged);
      nc.subscribe(subject, {
        callback: (_e, msg) => {
          events.push(msg.json<ConfigChangedEvent>());
        },
      });
      await nc.flush();
    });
    afterAll(async () => {
      await nc?.close();
    });

    async function expectEvents(expected: Partial<ConfigChangedEvent>[]): Promise<void> {
      for (let i = 0; i < 100 && events.length < expected.length; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(events.splice(0)).toEqual(expected.map((e) => ({ v: 1, ...e })));
    }

    it('publishes after every successful change and not after a failed one', async () => {
      const provider = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      await expectEvents([{ kind: 'providers', entity_id: provider.id as string }]);
      await expectOk(s.owner, 'PATCH', `/providers/${provider.id}`, { display_name: 'x' }, 200);
      await expectEvents([{ kind: 'providers', entity_id: provider.id as string }]);
      const config = await createConfig(s.owner, { provider: 'openai', model: 'm' });
      await expectEvents([{ kind: 'model_config', entity_id: config.id as string }]);
      await expectOk(s.owner, 'PATCH', `/model-configs/${config.id}`, { display_name: 'x' }, 200);
      await expectEvents([{ kind: 'model_config', entity_id: config.id as string }]);
      await put();
      await expectEvents([{ kind: 'system_prompt' }]);

      await expectError(s.owner, 'POST', '/providers', { provider: 'openai', api_key: 'k' }, 409);
      await expectError(s.owner, 'PATCH', `/model-configs/${config.id}`, { context_limit: 0 }, 400);
      await new Promise((r) => setTimeout(r, 100));
      expect(events).toEqual([]);

      await call(s.owner, 'DELETE', `/providers/${provider.id}`);
      await expectEvents([{ kind: 'providers', entity_id: provider.id as string }, { kind: 'model_config' }]);
    });

    const put = () => call(s.owner, 'PUT', '/config/system-prompt', { system_prompt: 'p' });
  });

  describe('null fields', () => {
    beforeAll(() => resetConfig(s.db));

    it('never answers a field sent as null with a 5xx', async () => {
      const provider = await createProvider(s.owner, { provider: 'openai', api_key: 'k' });
      const config = await createConfig(s.owner, { provider: 'openai', model: 'm' });
      const providerFields = [
        'display_name',
        'api_key',
        'base_url',
        'enabled',
        'central_api_key_enabled',
        'allow_user_api_key',
        'allow_central_api_key_fallback',
      ];
      const configFields = [
        'provider',
        'model',
        'display_name',
        'enabled',
        'is_default',
        'context_limit',
        'compression_threshold',
        'model_config',
      ];
      const cases: [string, string, Json, string][] = [
        ...['provider', ...providerFields].map((f): [string, string, Json, string] => [
          'POST',
          '/providers',
          { provider: 'anthropic', api_key: 'k' },
          f,
        ]),
        ...providerFields.map((f): [string, string, Json, string] => [
          'PATCH',
          `/providers/${provider.id}`,
          {},
          f,
        ]),
        ...configFields.map((f): [string, string, Json, string] => [
          'POST',
          '/model-configs',
          { provider: 'openai', model: 'n', context_limit: 1000 },
          f,
        ]),
        ...configFields.map((f): [string, string, Json, string] => [
          'PATCH',
          `/model-configs/${config.id}`,
          {},
          f,
        ]),
        ['PUT', '/config/system-prompt', { system_prompt: 'p' }, 'system_prompt'],
        ['PUT', '/config/system-prompt', { system_prompt: 'p' }, 'include_default_system_prompt'],
      ];
      for (const [method, path, base, field] of cases) {
        const res = await call(s.owner, method, path, { ...base, [field]: null });
        expect({ method, path, field, status: res.status < 500 ? 'not 5xx' : res.status }).toEqual({
          method,
          path,
          field,
          status: 'not 5xx',
        });
        // Undo a create, so the next case starts from the same state.
        if (res.status === 201) await call(s.owner, 'DELETE', `${path}/${(res.body as Json).id}`);
      }
    });
  });
});

describe('chat config with encryption keys', () => {
  const secret = randomBytes(32);
  const s = useSuite({ AGENTMESH_ENCRYPTION_KEYS: secret.toString('base64') });

  it('stores provider keys encrypted with the configured key and never returns them', async () => {
    const created = await createProvider(s.owner, { provider: 'openai', api_key: 'sk-live-secret' });
    expect(created.has_api_key).toBe(true);
    expect(JSON.stringify(created)).not.toContain('sk-live-secret');
    const { rows } = await s.db.query(`SELECT api_key, api_key_key_id FROM chat_providers`);
    expect(rows[0].api_key_key_id).toBe(keyDigest(secret));
    expect(rows[0].api_key).not.toContain('sk-live-secret');
    expect(decryptWithKey(encryptionKey(secret), rows[0].api_key)).toBe('sk-live-secret');

    const rotated = await expectOk<Json>(
      s.owner,
      'PATCH',
      `/providers/${created.id}`,
      { api_key: 'sk-rotated' },
      200,
    );
    expect(JSON.stringify(rotated)).not.toContain('sk-rotated');
    const after = (await s.db.query(`SELECT api_key, api_key_key_id FROM chat_providers`)).rows[0];
    expect(decryptWithKey(encryptionKey(secret), after.api_key)).toBe('sk-rotated');

    // An empty key is stored as '' (not the ciphertext of ''), so has_api_key stays honest.
    const cleared = await expectOk<Json>(
      s.owner,
      'PATCH',
      `/providers/${created.id}`,
      { api_key: '', central_api_key_enabled: false, allow_user_api_key: true },
      200,
    );
    expect(cleared.has_api_key).toBe(false);
    expect((await s.db.query(`SELECT api_key, api_key_key_id FROM chat_providers`)).rows[0]).toEqual({
      api_key: '',
      api_key_key_id: null,
    });
    const list = await expectOk<Json[]>(s.owner, 'GET', '/providers', undefined, 200);
    expect(JSON.stringify(list)).not.toMatch(/sk-(live|rotated)/);
  });
});
