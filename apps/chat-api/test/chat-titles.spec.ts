// POST /chats/{chat}/title/regenerate against a real chat-api, Postgres, NATS and a fake
// OpenAI-compatible provider (no worker runs: tests put chats in their states with SQL). The
// conversation sample the model sees, the hidden soft-deleted usage row, the title_change
// event, the 409s of the lock (and of a rename meanwhile), permissions, and a failing model.
import { connect, NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { SubjectCatalog, Subjects } from '@agentmesh/bus';
import { AgentmeshClient, ChatLifecycleEvent } from '@agentmesh/contracts';
import { TITLE_LOCK_WORKER_ID } from '@agentmesh/entities';
import { FakeLlmServer, TEST_NATS_URL } from '@agentmesh/testing';
import { setupOwner, useChatApi } from './harness';

const BASE = '/api/experimental/chats';
type Json = Record<string, unknown>;

const h = useChatApi();
let llm: FakeLlmServer;
let owner: AgentmeshClient;
let ownerId: string;
let orgId: string;
let db: Client;
let nc: NatsConnection;
let configId: string;

beforeAll(async () => {
  llm = await FakeLlmServer.start();
  const o = await setupOwner(h);
  owner = o.client;
  ownerId = o.userId;
  orgId = o.orgId;
  db = new Client({ connectionString: h.db.url });
  await db.connect();
  nc = await connect({ servers: TEST_NATS_URL });
  expect(
    (
      await owner.raw('POST', `${BASE}/providers`, {
        body: { provider: 'openai-compat', api_key: 'sk-titles', base_url: llm.baseUrl },
      })
    ).status,
  ).toBe(201);
  const model = await owner.raw('POST', `${BASE}/model-configs`, {
    body: {
      provider: 'openai-compat',
      model: 'title-model',
      context_limit: 100000,
      model_config: { cost: { input_price_per_million_tokens: '3', output_price_per_million_tokens: '15' } },
    },
  });
  expect(model.status).toBe(201);
  configId = (model.body as { id: string }).id;
});

afterAll(async () => {
  await db?.end();
  await nc?.close();
  await llm?.close();
});

beforeEach(() => llm.reset());

const regenerate = (id: string, c: AgentmeshClient = owner) =>
  c.raw('POST', `${BASE}/${id}/title/regenerate`);

/** A chat whose turns have all run: `turns` alternate user/assistant, then the chat waits. */
async function conversation(turns: string[]): Promise<{ id: string; title: string; updatedAt: string }> {
  const created = await owner.raw('POST', BASE, {
    body: { organization_id: orgId, content: [{ type: 'text', text: turns[0] }] },
  });
  expect(created.status).toBe(201);
  const id = (created.body as { id: string }).id;
  for (const [i, text] of turns.slice(1).entries()) {
    await db.query(
      `INSERT INTO chat_messages (chat_id, role, visibility, content, content_version)
       VALUES ($1, $2, 'both', $3::jsonb, 1)`,
      [id, i % 2 === 0 ? 'assistant' : 'user', JSON.stringify([{ type: 'text', text }])],
    );
  }
  const { rows } = await db.query(
    `UPDATE chats SET status = 'waiting', worker_id = NULL WHERE id = $1 RETURNING title, updated_at`,
    [id],
  );
  return { id, title: rows[0].title, updatedAt: rows[0].updated_at.toISOString() };
}

async function titleEvents(chatId: string): Promise<ChatLifecycleEvent[]> {
  const cat = new SubjectCatalog(h.prefix);
  const consumer = await jetstream(nc).consumers.get(cat.streamName('CHAT_EVENTS'), {
    filter_subjects: cat.subject(Subjects.chatEvents, ownerId, chatId),
  });
  const out: ChatLifecycleEvent[] = [];
  const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
  for await (const m of batch) {
    out.push(m.json<ChatLifecycleEvent>());
    if (m.info.pending === 0) break;
  }
  return out.filter((e) => e.kind === 'title_change');
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('POST /chats/{chat}/title/regenerate', () => {
  it('titles the chat from its first user turn and last three turns, records usage and announces it', async () => {
    const turns = Array.from({ length: 10 }, (_, i) =>
      i === 0 ? 'Port the billing service to Go' : `turn ${i}`,
    );
    const chat = await conversation(turns);
    llm.enqueue({ text: '"Porting billing to Go."', usage: { inputTokens: 400, outputTokens: 10 } });

    const res = await regenerate(chat.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: chat.id, title: 'Porting billing to Go', status: 'waiting' });

    // The model saw the first user turn, a gap marker, and the last three turns.
    const request = llm.requests.at(-1)!;
    expect(request.headers.authorization).toBe('Bearer sk-titles');
    const body = request.body as { model: string; messages: { role: string; content: string }[] };
    expect(body.model).toBe('title-model');
    const prompt = body.messages.find((m) => m.role === 'user')!.content;
    expect(prompt).toContain('User: Port the billing service to Go\n\n[... 6 earlier turns omitted ...]');
    expect(prompt).toContain('Assistant: turn 7\n\nUser: turn 8\n\nAssistant: turn 9');
    expect(prompt).toMatch(/## Latest user message\n\nturn 8/);
    expect(prompt).not.toContain('turn 6');

    // Usage is a soft-deleted hidden assistant row, priced: 400 × $3/M + 10 × $15/M = 1,350 µ$.
    const { rows: usage } = await db.query(
      `SELECT role, visibility, deleted, input_tokens, output_tokens, total_cost_micros, model_config_id
         FROM chat_messages WHERE chat_id = $1 AND deleted`,
      [chat.id],
    );
    expect(usage).toEqual([
      {
        role: 'assistant',
        visibility: 'model',
        deleted: true,
        input_tokens: '400',
        output_tokens: '10',
        total_cost_micros: '1350',
        model_config_id: configId,
      },
    ]);
    const page = (await owner.raw('GET', `${BASE}/${chat.id}/messages`)).body as { messages: Json[] };
    expect(page.messages).toHaveLength(10);

    // Stored, the lock released, the chat list order untouched, title_change relayed.
    const { rows } = await db.query(`SELECT title, worker_id, updated_at FROM chats WHERE id = $1`, [
      chat.id,
    ]);
    expect(rows[0]).toMatchObject({ title: 'Porting billing to Go', worker_id: null });
    expect(rows[0].updated_at.toISOString()).toBe(chat.updatedAt);
    const events = await waitFor('title_change', async () => {
      const e = await titleEvents(chat.id);
      return e.length > 0 ? e : undefined;
    });
    expect(events.map((e) => e.chat.title)).toEqual(['Porting billing to Go']);
  });

  it('is 409 while another regeneration runs, and a rename meanwhile is 409 too', async () => {
    const chat = await conversation(['Why is the cache cold', 'Because of the deploy.']);
    llm.enqueue({ text: 'Cold cache after deploys', delayMs: 1500 });
    const first = regenerate(chat.id);
    await llm.waitForRequests(1);
    const { rows } = await db.query(`SELECT worker_id FROM chats WHERE id = $1`, [chat.id]);
    expect(rows[0].worker_id).toBe(TITLE_LOCK_WORKER_ID);

    const second = await regenerate(chat.id);
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ message: 'Title regeneration already in progress for this chat.' });
    const rename = await owner.raw('PATCH', `${BASE}/${chat.id}`, { body: { title: 'Mine' } });
    expect(rename.status).toBe(409);

    expect((await first).status).toBe(200);
    const after = await db.query(`SELECT title, worker_id FROM chats WHERE id = $1`, [chat.id]);
    expect(after.rows[0]).toEqual({ title: 'Cold cache after deploys', worker_id: null });
    expect((await owner.raw('PATCH', `${BASE}/${chat.id}`, { body: { title: 'Mine' } })).status).toBe(204);
  });

  it('a regeneration whose lock was taken over as stale does not release the new holder', async () => {
    const chat = await conversation(['Tune the autovacuum', 'Tuned.']);
    llm.enqueue({ text: 'First title', delayMs: 1200 });
    const first = regenerate(chat.id);
    await llm.waitForRequests(1);
    // The first holder looks dead (its lock is a minute old): a second call takes over.
    await db.query(`UPDATE chats SET heartbeat_at = heartbeat_at - interval '61 seconds' WHERE id = $1`, [
      chat.id,
    ]);
    llm.enqueue({ text: 'Second title', delayMs: 2500 });
    const second = regenerate(chat.id);
    await llm.waitForRequests(2);
    expect((await first).status).toBe(200);
    // The first call is done, the second still holds the lock.
    const third = await regenerate(chat.id);
    expect(third.status).toBe(409);
    expect((await second).status).toBe(200);
    const { rows } = await db.query(`SELECT worker_id FROM chats WHERE id = $1`, [chat.id]);
    expect(rows[0].worker_id).toBeNull();
  });

  it('a lock older than a minute is abandoned: regeneration goes ahead', async () => {
    const chat = await conversation(['Rotate the signing keys', 'Rotated.']);
    await db.query(
      `UPDATE chats SET worker_id = $2, heartbeat_at = now() - interval '61 seconds' WHERE id = $1`,
      [chat.id, TITLE_LOCK_WORKER_ID],
    );
    llm.enqueue({ text: 'Signing key rotation' });
    const res = await regenerate(chat.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ title: 'Signing key rotation' });
  });

  it('is 409 while the chat waits for a worker; a running chat is titled without taking its worker', async () => {
    const pending = (
      await owner.raw('POST', BASE, {
        body: { organization_id: orgId, content: [{ type: 'text', text: 'hi' }] },
      })
    ).body as { id: string };
    const res = await regenerate(pending.id);
    expect(res.status).toBe(409);
    expect(llm.requests).toHaveLength(0);

    const chat = await conversation(['Speed up the test suite', 'Parallelised it.']);
    const worker = '11111111-2222-4333-8444-555555555555';
    await db.query(
      `UPDATE chats SET status = 'running', worker_id = $2, heartbeat_at = now() WHERE id = $1`,
      [chat.id, worker],
    );
    llm.enqueue({ text: 'Faster test suite' });
    const running = await regenerate(chat.id);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ title: 'Faster test suite', status: 'running' });
    const { rows } = await db.query(`SELECT worker_id FROM chats WHERE id = $1`, [chat.id]);
    expect(rows[0].worker_id).toBe(worker);
  });

  it('a failing model is a 502 naming the provider; nothing changes and the lock is released', async () => {
    const chat = await conversation(['Migrate the queue to NATS', 'Done.']);
    llm.enqueue({ error: { status: 401, message: 'Incorrect API key provided: sk-titles' } });
    const res = await regenerate(chat.id);
    expect(res.status).toBe(502);
    const body = res.body as Json;
    expect(body.message).toBe('Failed to regenerate chat title.');
    expect(body.detail).toMatch(/rejected the API key/);
    expect(JSON.stringify(body)).not.toContain('sk-titles');
    const { rows } = await db.query(`SELECT title, worker_id FROM chats WHERE id = $1`, [chat.id]);
    expect(rows[0]).toEqual({ title: chat.title, worker_id: null });
  });

  it('a key that cannot be decrypted is our fault (500, request id only), never a 502 carrying its text', async () => {
    const chat = await conversation(['Rotate the keys', 'Rotated.']);
    const { rows: saved } = await db.query(`SELECT provider, api_key_key_id FROM chat_providers`);
    // A key id the registry knows but this process was not given (a rotation gone wrong).
    await db.query(
      `INSERT INTO dbcrypt_keys (active_key_digest, test) VALUES ('deadbee', 'x') ON CONFLICT DO NOTHING`,
    );
    await db.query(`UPDATE chat_providers SET api_key_key_id = 'deadbee'`);
    try {
      const res = await regenerate(chat.id);
      expect(res.status).toBe(500);
      expect(JSON.stringify(res.body)).not.toContain('deadbee');
      expect((res.body as Json).detail).toMatch(/^request id: /);
      const { rows } = await db.query(`SELECT title, worker_id FROM chats WHERE id = $1`, [chat.id]);
      expect(rows[0]).toEqual({ title: chat.title, worker_id: null });
    } finally {
      for (const p of saved)
        await db.query(`UPDATE chat_providers SET api_key_key_id = $2 WHERE provider = $1`, [
          p.provider,
          p.api_key_key_id,
        ]);
    }
  });

  it("is 404 for another user's chat and 400 for a malformed id", async () => {
    const chat = await conversation(['Private things', 'Sure.']);
    await owner.createUser({
      email: 'eve@example.com',
      username: 'eve',
      password: 'eve password 1',
      user_status: 'active',
      organization_ids: [orgId],
    });
    await owner.updateMemberRoles(orgId, 'eve', ['agents-access']);
    const eve = h.client();
    await eve.login({ email: 'eve@example.com', password: 'eve password 1' });
    expect((await regenerate(chat.id, eve)).status).toBe(404);
    expect((await regenerate('not-a-uuid')).status).toBe(400);
    expect((await regenerate('7b0e5c2a-1111-4222-8333-444455556666')).status).toBe(404);
    expect(llm.requests).toHaveLength(0);
  });
});
