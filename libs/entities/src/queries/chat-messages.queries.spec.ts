import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '@agentmesh/db';
import { useTestDatabase } from '@agentmesh/testing';
import { ALL_ENTITIES } from '../all-entities';
import {
  ChatEntity,
  ChatMessageEntity,
  ChatModelConfigEntity,
  ChatProviderEntity,
  ChatQueuedMessageEntity,
  UserChatProviderKeyEntity,
} from '../chat.entities';
import {
  CHAT_MESSAGE_CONTENT_VERSION,
  insertChatMessages,
  listChatMessages,
  NewChatMessage,
  softDeleteMessagesFrom,
} from './chat-messages.queries';
import type { Db } from './users.queries';

describe('chat message queries', () => {
  const db = useTestDatabase();
  let ds: DataSource;
  let ownerId: string;
  let orgId: string;
  let configA: string;
  let configB: string;

  beforeAll(async () => {
    ds = await db.dataSource();
    ownerId = randomUUID();
    orgId = randomUUID();
    await ds.query(`INSERT INTO users (id, email, username) VALUES ($1, 'owner@example.com', 'owner')`, [
      ownerId,
    ]);
    await ds.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'coder', 'Coder')`, [
      orgId,
    ]);
    [{ id: configA }] = await ds.query(
      `INSERT INTO chat_model_configs (provider, model, context_limit) VALUES ('openai', 'gpt-a', 128000) RETURNING id`,
    );
    [{ id: configB }] = await ds.query(
      `INSERT INTO chat_model_configs (provider, model, context_limit) VALUES ('anthropic', 'claude-b', 200000) RETURNING id`,
    );
  });

  /** A chat whose updated_at lies an hour in the past, so a touch is visible. */
  async function newChat(lastModelConfigId = configA): Promise<string> {
    const [{ id }] = await ds.query(
      `INSERT INTO chats (owner_id, organization_id, last_model_config_id, updated_at)
       VALUES ($1, $2, $3, now() - interval '1 hour') RETURNING id`,
      [ownerId, orgId, lastModelConfigId],
    );
    return id;
  }

  async function chatRow(id: string): Promise<{ last_model_config_id: string; updated_at: Date }> {
    const [row] = await ds.query(`SELECT last_model_config_id, updated_at FROM chats WHERE id = $1`, [id]);
    return row;
  }

  /** Counts the statements a query function sends. */
  function counting(): { db: Db; statements: string[] } {
    const statements: string[] = [];
    return {
      statements,
      db: {
        query: (sql: string, params?: unknown[]) => {
          statements.push(sql);
          return ds.query(sql, params);
        },
      },
    };
  }

  const text = (t: string) => [{ type: 'text', text: t }];

  describe('insertChatMessages', () => {
    it('inserts the batch in one statement, ids ascending in input order', async () => {
      const chatId = await newChat();
      const rows: NewChatMessage[] = Array.from({ length: 7 }, (_, i) => ({
        role: i === 0 ? 'system' : i % 2 ? 'user' : 'assistant',
        content: text(`message ${i}`),
        visibility: i === 0 ? 'model' : 'both',
      }));
      const c = counting();
      const inserted = await insertChatMessages(c.db, chatId, rows);
      expect(c.statements).toHaveLength(1);
      expect(inserted).toHaveLength(7);
      expect(inserted.map((m) => m.content)).toEqual(rows.map((r) => r.content));
      expect(inserted.map((m) => m.role)).toEqual(rows.map((r) => r.role));
      const ids = inserted.map((m) => m.id);
      expect(ids.every((id) => typeof id === 'number')).toBe(true);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
      expect(inserted[0]).toMatchObject({
        chat_id: chatId,
        visibility: 'model',
        content_version: CHAT_MESSAGE_CONTENT_VERSION,
        compressed: false,
        deleted: false,
        created_by: null,
        model_config_id: null,
      });
      // The stored order agrees with the ids.
      const stored = await ds.query(`SELECT content FROM chat_messages WHERE chat_id = $1 ORDER BY id`, [
        chatId,
      ]);
      expect(stored.map((r: { content: unknown }) => r.content)).toEqual(rows.map((r) => r.content));
    });

    it('stores zero usage, cost and runtime (and an empty response id) as NULL, keeps the rest', async () => {
      const chatId = await newChat();
      const [zero, full] = await insertChatMessages(ds, chatId, [
        {
          role: 'assistant',
          content: text('zero'),
          modelConfigId: configA,
          inputTokens: 0,
          outputTokens: 0,
          totalTokens: 0,
          reasoningTokens: 0,
          cacheCreationTokens: 0,
          cacheReadTokens: 0,
          contextLimit: 0,
          totalCostMicros: 0,
          runtimeMs: 0,
          providerResponseId: '',
        },
        {
          role: 'assistant',
          content: text('full'),
          modelConfigId: configA,
          createdBy: ownerId,
          inputTokens: 1200,
          outputTokens: 340,
          totalTokens: 1540,
          reasoningTokens: 50,
          cacheCreationTokens: 7,
          cacheReadTokens: 800,
          contextLimit: 128000,
          totalCostMicros: 4321,
          runtimeMs: 950,
          providerResponseId: 'resp_123',
          contentVersion: 0,
          compressed: true,
        },
      ]);
      expect(zero).toMatchObject({
        input_tokens: null,
        output_tokens: null,
        total_tokens: null,
        reasoning_tokens: null,
        cache_creation_tokens: null,
        cache_read_tokens: null,
        context_limit: null,
        total_cost_micros: null,
        runtime_ms: null,
        provider_response_id: null,
      });
      expect(full).toMatchObject({
        created_by: ownerId,
        input_tokens: 1200,
        output_tokens: 340,
        total_tokens: 1540,
        reasoning_tokens: 50,
        cache_creation_tokens: 7,
        cache_read_tokens: 800,
        context_limit: 128000,
        total_cost_micros: 4321,
        runtime_ms: 950,
        provider_response_id: 'resp_123',
        content_version: 0,
        compressed: true,
      });
      const [raw] = await ds.query(
        `SELECT input_tokens IS NULL AS a, total_cost_micros IS NULL AS b, runtime_ms IS NULL AS c
           FROM chat_messages WHERE id = $1`,
        [zero.id],
      );
      expect(raw).toEqual({ a: true, b: true, c: true });
    });

    it("sets the chat's last model config to the batch's last non-null one and touches updated_at", async () => {
      const chatId = await newChat(configA);
      const before = await chatRow(chatId);
      await insertChatMessages(ds, chatId, [
        { role: 'user', content: text('a'), modelConfigId: configA },
        { role: 'assistant', content: text('b'), modelConfigId: configB },
        { role: 'tool', content: text('c'), modelConfigId: null },
      ]);
      const after = await chatRow(chatId);
      expect(after.last_model_config_id).toBe(configB);
      expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    });

    it('leaves the last model config unchanged when every id is null, still touching updated_at', async () => {
      const chatId = await newChat(configB);
      const before = await chatRow(chatId);
      await insertChatMessages(ds, chatId, [
        { role: 'system', content: text('prompt'), visibility: 'model' },
        { role: 'user', content: text('hi'), createdBy: ownerId },
      ]);
      const after = await chatRow(chatId);
      expect(after.last_model_config_id).toBe(configB);
      expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    });

    it('round-trips nested and awkward JSON content, and NULL content', async () => {
      const chatId = await newChat();
      const tricky = [
        { type: 'text', text: 'quotes " and \' and \\ backslash, {braces}, ,commas, NULL, ünïcødé 🚀' },
        {
          type: 'tool-call',
          tool_call_id: 'c1',
          tool_name: 'run',
          args: { argv: ['a', ['b', 'c']], n: 1.5 },
        },
        { type: 'tool-result', tool_call_id: 'c1', result: [[1, 2], [3]], is_error: false },
      ];
      const inserted = await insertChatMessages(ds, chatId, [
        { role: 'assistant', content: tricky },
        { role: 'assistant', content: [] },
        { role: 'assistant', content: null },
      ]);
      expect(inserted.map((m) => m.content)).toEqual([tricky, [], null]);
    });

    it('returns [] for an empty batch without a statement', async () => {
      const c = counting();
      expect(await insertChatMessages(c.db, randomUUID(), [])).toEqual([]);
      expect(c.statements).toHaveLength(0);
    });

    it('fails as a whole for an unknown chat or model config', async () => {
      await expect(
        insertChatMessages(ds, randomUUID(), [{ role: 'user', content: text('x') }]),
      ).rejects.toThrow(/foreign key/);
      const chatId = await newChat();
      await expect(
        insertChatMessages(ds, chatId, [
          { role: 'user', content: text('ok') },
          { role: 'assistant', content: text('bad'), modelConfigId: randomUUID() },
        ]),
      ).rejects.toThrow(/foreign key/);
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM chat_messages WHERE chat_id = $1`, [
        chatId,
      ]);
      expect(n).toBe(0);
      expect((await chatRow(chatId)).last_model_config_id).toBe(configA);
    });
  });

  describe('listChatMessages', () => {
    it('pages newest first over live messages with before_id', async () => {
      const chatId = await newChat();
      const other = await newChat();
      await insertChatMessages(ds, other, [{ role: 'user', content: text('elsewhere') }]);
      const inserted = await insertChatMessages(
        ds,
        chatId,
        Array.from({ length: 6 }, (_, i) => ({ role: 'user' as const, content: text(`m${i}`) })),
      );
      const ids = inserted.map((m) => m.id);
      await ds.query(`UPDATE chat_messages SET deleted = true WHERE id = $1`, [ids[3]]);

      const first = await listChatMessages(ds, chatId, { limit: 2 });
      expect(first.messages.map((m) => m.id)).toEqual([ids[5], ids[4]]);
      expect(first.hasMore).toBe(true);
      const second = await listChatMessages(ds, chatId, { beforeId: ids[4], limit: 2 });
      expect(second.messages.map((m) => m.id)).toEqual([ids[2], ids[1]]);
      expect(second.hasMore).toBe(true);
      const last = await listChatMessages(ds, chatId, { beforeId: ids[1], limit: 2 });
      expect(last.messages.map((m) => m.id)).toEqual([ids[0]]);
      expect(last.hasMore).toBe(false);
      const all = await listChatMessages(ds, chatId, { limit: 200 });
      expect(all.messages.map((m) => m.id)).toEqual([ids[5], ids[4], ids[2], ids[1], ids[0]]);
      expect(all.hasMore).toBe(false);
      expect(all.messages[0]).toMatchObject({ chat_id: chatId, role: 'user', content: text('m5') });
    });

    it('returns an empty page for an unknown chat and refuses a bad limit', async () => {
      expect(await listChatMessages(ds, randomUUID(), { limit: 10 })).toEqual({
        messages: [],
        hasMore: false,
      });
      await expect(listChatMessages(ds, randomUUID(), { limit: 0 })).rejects.toThrow(RangeError);
      await expect(listChatMessages(ds, randomUUID(), { limit: 1.5 })).rejects.toThrow(RangeError);
    });

    it('reads idx_chat_messages_chat in order (EXPLAIN)', async () => {
      // Many chats with interleaved messages, as in a live deployment.
      const chats: string[] = (
        await ds.query(
          `INSERT INTO chats (owner_id, organization_id, last_model_config_id)
           SELECT $1, $2, $3 FROM generate_series(1, 500) RETURNING id`,
          [ownerId, orgId, configA],
        )
      ).map((r: { id: string }) => r.id);
      await ds.query(
        `INSERT INTO chat_messages (chat_id, role, content, content_version)
         SELECT c, 'assistant', '[{"type":"text","text":"x"}]', 1
           FROM generate_series(1, 100), unnest($1::uuid[]) c`,
        [chats],
      );
      await ds.query('ANALYZE chat_messages');
      const c = counting();
      await listChatMessages(c.db, chats[7], { beforeId: 1_000_000, limit: 50 });
      const [{ 'QUERY PLAN': plan }] = await ds.query(`EXPLAIN (FORMAT JSON) ${c.statements[0]}`, [
        chats[7],
        51,
        1_000_000,
      ]);
      const top = plan[0].Plan;
      expect(indexNames(top)).toContain('idx_chat_messages_chat');
      expect(JSON.stringify(top)).not.toContain('"Sort"');
      // The first page (no before_id) too.
      await listChatMessages(c.db, chats[7], { limit: 50 });
      const [{ 'QUERY PLAN': first }] = await ds.query(`EXPLAIN (FORMAT JSON) ${c.statements[1]}`, [
        chats[7],
        51,
      ]);
      expect(indexNames(first[0].Plan)).toContain('idx_chat_messages_chat');
      expect(JSON.stringify(first[0].Plan)).not.toContain('"Sort"');
    });
  });

  describe('softDeleteMessagesFrom', () => {
    it('soft-deletes the target and every later message of the chat only', async () => {
      const chatId = await newChat();
      const other = await newChat();
      const ids = (
        await insertChatMessages(
          ds,
          chatId,
          Array.from({ length: 5 }, (_, i) => ({ role: 'user' as const, content: text(`m${i}`) })),
        )
      ).map((m) => m.id);
      const [otherMsg] = await insertChatMessages(ds, other, [
        { role: 'user', content: text('later, elsewhere') },
      ]);

      expect(await softDeleteMessagesFrom(ds, chatId, ids[2])).toBe(3);
      const rows = await ds.query(`SELECT id, deleted FROM chat_messages WHERE chat_id = $1 ORDER BY id`, [
        chatId,
      ]);
      expect(rows.map((r: { deleted: boolean }) => r.deleted)).toEqual([false, false, true, true, true]);
      const [{ deleted }] = await ds.query(`SELECT deleted FROM chat_messages WHERE id = $1`, [otherMsg.id]);
      expect(deleted).toBe(false);
      expect((await listChatMessages(ds, chatId, { limit: 10 })).messages.map((m) => m.id)).toEqual([
        ids[1],
        ids[0],
      ]);
    });

    it('does nothing when the target is deleted, unknown, or in another chat', async () => {
      const chatId = await newChat();
      const other = await newChat();
      const ids = (
        await insertChatMessages(ds, chatId, [
          { role: 'user', content: text('a') },
          { role: 'user', content: text('b') },
          { role: 'user', content: text('c') },
        ])
      ).map((m) => m.id);
      const [foreign] = await insertChatMessages(ds, other, [{ role: 'user', content: text('x') }]);
      await ds.query(`UPDATE chat_messages SET deleted = true WHERE id = $1`, [ids[1]]);

      expect(await softDeleteMessagesFrom(ds, chatId, ids[1])).toBe(0);
      expect(await softDeleteMessagesFrom(ds, chatId, foreign.id)).toBe(0);
      expect(await softDeleteMessagesFrom(ds, chatId, 999_999_999)).toBe(0);
      expect(await softDeleteMessagesFrom(ds, other, ids[0])).toBe(0);
      const live = await ds.query(
        `SELECT id FROM chat_messages WHERE chat_id = ANY($1) AND NOT deleted ORDER BY id`,
        [[chatId, other]],
      );
      expect(live.map((r: { id: string }) => Number(r.id))).toEqual([ids[0], ids[2], foreign.id]);
    });
  });

  it('maps every chat table through the TypeORM entities', async () => {
    const orm = createDataSource({
      url: db.url,
      poolSize: 1,
      applicationName: 'entities-test',
      entities: ALL_ENTITIES,
    });
    await orm.initialize();
    try {
      const chatId = await newChat(configB);
      const [msg] = await insertChatMessages(ds, chatId, [
        { role: 'assistant', content: text('hi'), modelConfigId: configB, inputTokens: 5 },
      ]);
      await ds.query(`INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, '[]')`, [chatId]);
      const [{ id: providerId }] = await ds.query(
        `INSERT INTO chat_providers (provider, api_key, allow_user_api_key) VALUES ('openai', 'secret', true) RETURNING id`,
      );
      await ds.query(
        `INSERT INTO user_chat_provider_keys (user_id, chat_provider_id, api_key) VALUES ($1, $2, 'mine')`,
        [ownerId, providerId],
      );

      const chat = await orm.getRepository(ChatEntity).findOneByOrFail({ id: chatId });
      expect(chat).toMatchObject({
        ownerId,
        organizationId: orgId,
        lastModelConfigId: configB,
        status: 'waiting',
        clientType: 'api',
        mcpServerIds: [],
        labels: {},
        planMode: null,
        workspaceId: null,
      });
      const message = await orm.getRepository(ChatMessageEntity).findOneByOrFail({ id: String(msg.id) });
      expect(message).toMatchObject({ chatId, role: 'assistant', inputTokens: '5', content: text('hi') });
      expect(await orm.getRepository(ChatQueuedMessageEntity).findOneByOrFail({ chatId })).toMatchObject({
        content: [],
        modelConfigId: null,
      });
      const config = await orm.getRepository(ChatModelConfigEntity).findOneByOrFail({ id: configB });
      expect(config).toMatchObject({
        provider: 'anthropic',
        contextLimit: '200000',
        compressionThreshold: 70,
      });
      const provider = await orm.getRepository(ChatProviderEntity).findOneByOrFail({ id: providerId });
      expect(provider).toMatchObject({ provider: 'openai', allowUserApiKey: true, apiKeyKeyId: null });
      expect(provider.apiKey).toBeUndefined(); // never selected by default
      const key = await orm
        .getRepository(UserChatProviderKeyEntity)
        .findOneByOrFail({ chatProviderId: providerId });
      expect(key).toMatchObject({ userId: ownerId });
      expect(key.apiKey).toBeUndefined();
    } finally {
      await orm.destroy();
    }
  });
});

/** Every index a JSON plan node (or its children) reads. */
function indexNames(node: { 'Index Name'?: string; Plans?: unknown[] }): string[] {
  const own = node['Index Name'] ? [node['Index Name']] : [];
  const kids = (node.Plans ?? []).flatMap((p) =>
    indexNames(p as { 'Index Name'?: string; Plans?: unknown[] }),
  );
  return [...own, ...kids];
}
