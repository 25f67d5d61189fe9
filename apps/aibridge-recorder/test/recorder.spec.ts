// The AI Bridge recorder in-process against the real Postgres and NATS: every record kind
// lands with its values, single and batched; a record published twice (past the stream's
// dedupe, alone and inside a batch) is stored once; records arriving in any order (an end
// before its start, usages before the interception) converge; thread lineage from
// correlating tool call ids; invalid messages are dead-lettered with the problems named while
// the valid records of a batch are kept.
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, JetStreamManager } from '@nats-io/jetstream';
import { connect, NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { aibridgeRecorderSchema, loadConfig } from '@agentmesh/config';
import type { AibridgeInput, DeadLetter } from '@agentmesh/contracts';
import { AibridgeRecorderClient, SubjectCatalog } from '@agentmesh/bus';
import { RunningApp, startApp, workerOptions } from '@agentmesh/observability';
import {
  appTestEnv,
  deleteStreamsForPrefix,
  randomPrefix,
  TEST_NATS_URL,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';
import { AibridgeRecorderModule } from '../src/app.module';

const db = useTestDatabase();
const prefix = randomPrefix();
const cat = new SubjectCatalog(prefix);
let recorder: RunningApp;
let nc: NatsConnection;
let jsm: JetStreamManager;
let pg: Client;
let single: AibridgeRecorderClient;
let batched: AibridgeRecorderClient;

beforeAll(async () => {
  const cfg = () =>
    loadConfig(
      aibridgeRecorderSchema,
      appTestEnv(db.url, prefix, {
        AIBRIDGE_RECORDER_BATCH_MESSAGES: '50',
        AIBRIDGE_RECORDER_BATCH_WAIT: '5',
      }),
    );
  recorder = await startApp(
    workerOptions('aibridge-recorder', aibridgeRecorderSchema, cfg, (c, shared) =>
      AibridgeRecorderModule.forRoot(c, shared),
    ),
  );
  nc = await connect({ servers: TEST_NATS_URL });
  jsm = await jetstreamManager(nc);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  single = AibridgeRecorderClient.fromConnection(nc, prefix, { batching: false });
  batched = AibridgeRecorderClient.fromConnection(nc, prefix, { batching: true, flushIntervalMs: 5 });
});

afterAll(async () => {
  await single?.close();
  await batched?.close();
  await recorder?.close();
  await pg?.end();
  await nc?.close();
  await deleteStreamsForPrefix(prefix);
});

const USER = randomUUID();
const at = (s: number) => new Date(Date.UTC(2026, 10, 1, 12, 0, s)).toISOString();

/** A tool call made in interception `interceptionId` with provider call id `call`. */
const toolCall = (interceptionId: string, call: string, s: number) => ({
  id: randomUUID(),
  interception_id: interceptionId,
  provider_response_id: `m-${call}`,
  provider_tool_call_id: call,
  tool: 'bash',
  input: '{}',
  injected: false,
  created_at: at(s),
});

const started = (
  over: Partial<AibridgeInput<'interception.started'>> = {},
): AibridgeInput<'interception.started'> => ({
  id: randomUUID(),
  initiator_id: USER,
  provider: 'anthropic',
  model: 'claude-sonnet-4-5',
  started_at: at(0),
  api_key_id: 'key-1',
  user_agent: 'claude-cli/2.0',
  client: 'Claude Code',
  ...over,
});

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pg.query(sql, params)).rows as T[];
}

async function interception(id: string) {
  return (
    await rows<Record<string, unknown> & { ended_at: Date | null }>(
      `SELECT * FROM aibridge_interceptions WHERE id = $1`,
      [id],
    )
  )[0];
}

/** Waits until the recorder consumer has nothing pending or unacked. */
async function settled(): Promise<void> {
  await waitFor('the recorder caught up', async () => {
    const info = await jsm.consumers.info(cat.streamName('AIBRIDGE'), 'aibridge-recorder');
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

describe('aibridge-recorder', () => {
  it('stores every record kind with its values, one message per record', async () => {
    const i = started({
      client_session_id: 'sess-1',
      credential_kind: 'byok',
      credential_hint: 'sk-a...wxyz',
    });
    await single.recordInterceptionStarted(i);
    const tokenId = randomUUID();
    await Promise.all([
      single.recordTokenUsage({
        id: tokenId,
        interception_id: i.id,
        provider_response_id: 'msg_1',
        input_tokens: 120,
        output_tokens: 45,
        cache_read_input_tokens: 900,
        cache_write_input_tokens: 30,
        metadata: { total_tokens: 1095 },
        created_at: at(1),
      }),
      single.recordPromptUsage({
        id: randomUUID(),
        interception_id: i.id,
        provider_response_id: 'msg_1',
        prompt: 'refactor the parser',
        created_at: at(1),
      }),
      single.recordToolUsage({
        id: randomUUID(),
        interception_id: i.id,
        provider_response_id: 'msg_1',
        provider_tool_call_id: 'toolu_1',
        server_url: 'https://mcp.example.com',
        tool: 'read_file',
        input: '{"path":"a.ts"}',
        injected: true,
        invocation_error: 'not found',
        created_at: at(2),
      }),
      single.recordModelThought({
        id: randomUUID(),
        interception_id: i.id,
        content: 'The parser is recursive.',
        metadata: { source: 'thinking' },
        created_at: at(2),
      }),
    ]);
    await single.recordInterceptionEnded({ id: i.id, ended_at: at(3) });
    await settled();

    expect(await interception(i.id)).toMatchObject({
      initiator_id: USER,
      provider: 'anthropic',
      provider_name: 'anthropic',
      model: 'claude-sonnet-4-5',
      client: 'Claude Code',
      client_session_id: 'sess-1',
      session_id: 'sess-1',
      credential_kind: 'byok',
      credential_hint: 'sk-a...wxyz',
      api_key_id: 'key-1',
      metadata: { request_user_agent: 'claude-cli/2.0' },
      thread_parent_id: null,
      thread_root_id: null,
    });
    expect((await interception(i.id)).ended_at?.toISOString()).toBe(at(3));
    expect(await rows(`SELECT * FROM aibridge_token_usages WHERE interception_id = $1`, [i.id])).toEqual([
      expect.objectContaining({
        id: tokenId,
        provider_response_id: 'msg_1',
        input_tokens: '120',
        output_tokens: '45',
        cache_read_input_tokens: '900',
        cache_write_input_tokens: '30',
        metadata: { total_tokens: 1095 },
      }),
    ]);
    expect(await rows(`SELECT prompt FROM aibridge_user_prompts WHERE interception_id = $1`, [i.id])).toEqual(
      [{ prompt: 'refactor the parser' }],
    );
    expect(
      await rows(
        `SELECT provider_tool_call_id, server_url, tool, input, injected, invocation_error
           FROM aibridge_tool_usages WHERE interception_id = $1`,
        [i.id],
      ),
    ).toEqual([
      {
        provider_tool_call_id: 'toolu_1',
        server_url: 'https://mcp.example.com',
        tool: 'read_file',
        input: '{"path":"a.ts"}',
        injected: true,
        invocation_error: 'not found',
      },
    ]);
    expect(
      await rows(`SELECT content, metadata FROM aibridge_model_thoughts WHERE interception_id = $1`, [i.id]),
    ).toEqual([{ content: 'The parser is recursive.', metadata: { source: 'thinking' } }]);
  });

  it('stores batched records once each, even when the same records arrive again alone and in another batch', async () => {
    const interceptions = Array.from({ length: 30 }, () => started({ provider: 'openai', model: 'gpt-5' }));
    const tokens = interceptions.map((i) => ({
      id: randomUUID(),
      interception_id: i.id,
      provider_response_id: `resp_${i.id}`,
      input_tokens: 10,
      output_tokens: 5,
      cache_read_input_tokens: 0,
      cache_write_input_tokens: 0,
      created_at: at(1),
    }));
    await Promise.all([
      ...interceptions.map((i) => batched.recordInterceptionStarted(i)),
      ...tokens.map((t) => batched.recordTokenUsage(t)),
      ...interceptions.map((i) => batched.recordInterceptionEnded({ id: i.id, ended_at: at(2) })),
    ]);
    // Again: alone (other message ids than the batch's), and in a fresh batch.
    await Promise.all(tokens.slice(0, 10).map((t) => single.recordTokenUsage(t)));
    await Promise.all(interceptions.slice(0, 10).map((i) => batched.recordInterceptionStarted(i)));
    await settled();
    const ids = interceptions.map((i) => i.id);
    const [{ n }] = await rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM aibridge_interceptions WHERE id = ANY($1) AND ended_at IS NOT NULL`,
      [ids],
    );
    expect(n).toBe(30);
    const [{ t }] = await rows<{ t: number }>(
      `SELECT count(*)::int AS t FROM aibridge_token_usages WHERE interception_id = ANY($1)`,
      [ids],
    );
    expect(t).toBe(30);
  });

  it('converges when an end and the usages arrive before the start', async () => {
    const i = started();
    await single.recordInterceptionEnded({ id: i.id, ended_at: at(9) });
    await single.recordPromptUsage({
      id: randomUUID(),
      interception_id: i.id,
      provider_response_id: 'r',
      prompt: 'early',
      created_at: at(1),
    });
    // The end is retried while the start is missing.
    await new Promise((r) => setTimeout(r, 400));
    expect(await interception(i.id)).toBeUndefined();
    await single.recordInterceptionStarted(i);
    await waitFor(
      'the end applied',
      async () => (await interception(i.id))?.ended_at?.toISOString() === at(9),
    );
    expect(await rows(`SELECT prompt FROM aibridge_user_prompts WHERE interception_id = $1`, [i.id])).toEqual(
      [{ prompt: 'early' }],
    );
    // A second, later end does not move it.
    await single.recordInterceptionEnded({ id: i.id, ended_at: at(59) });
    await settled();
    expect((await interception(i.id)).ended_at?.toISOString()).toBe(at(9));
  });

  it('links threads: a request answering a tool call gets that call as parent and the thread root as root', async () => {
    const root = started({ started_at: at(10) });
    await single.recordInterceptionStarted(root);
    await single.recordToolUsage(toolCall(root.id, 'call_root', 11));
    await settled();
    const child = started({ started_at: at(12), correlating_tool_call_id: 'call_root' });
    await single.recordInterceptionStarted(child);
    await single.recordToolUsage(toolCall(child.id, 'call_child', 13));
    await settled();
    const grandchild = started({ started_at: at(14), correlating_tool_call_id: 'call_child' });
    const unknown = started({ started_at: at(15), correlating_tool_call_id: 'call_nobody_made' });
    await single.recordInterceptionStarted(grandchild);
    await single.recordInterceptionStarted(unknown);
    await settled();

    expect(await interception(child.id)).toMatchObject({
      thread_parent_id: root.id,
      thread_root_id: root.id,
    });
    expect(await interception(grandchild.id)).toMatchObject({
      thread_parent_id: child.id,
      thread_root_id: root.id,
      session_id: root.id,
    });
    expect(await interception(unknown.id)).toMatchObject({ thread_parent_id: null, thread_root_id: null });

    // Another user's request answering a tool call id that happens to be the same is no child.
    const stranger = started({
      initiator_id: randomUUID(),
      started_at: at(16),
      correlating_tool_call_id: 'call_root',
    });
    await single.recordInterceptionStarted(stranger);
    await settled();
    expect(await interception(stranger.id)).toMatchObject({ thread_parent_id: null, thread_root_id: null });
  });

  it('links a whole thread that arrives in one batch: every level gets the root, never across users', async () => {
    const root = started({ started_at: at(20) });
    const child = started({ started_at: at(22), correlating_tool_call_id: 'call_b1' });
    const grandchild = started({ started_at: at(24), correlating_tool_call_id: 'call_b2' });
    const great = started({ started_at: at(26), correlating_tool_call_id: 'call_b3' });
    const stranger = started({
      initiator_id: randomUUID(),
      started_at: at(27),
      correlating_tool_call_id: 'call_b1',
    });
    // One synchronous burst: the client sends it as one batch message, stored in one transaction.
    await Promise.all([
      batched.recordInterceptionStarted(root),
      batched.recordToolUsage(toolCall(root.id, 'call_b1', 21)),
      batched.recordInterceptionStarted(child),
      batched.recordToolUsage(toolCall(child.id, 'call_b2', 23)),
      batched.recordInterceptionStarted(grandchild),
      batched.recordToolUsage(toolCall(grandchild.id, 'call_b3', 25)),
      batched.recordInterceptionStarted(great),
      batched.recordInterceptionStarted(stranger),
      ...[root, child, grandchild, great, stranger].map((i) =>
        batched.recordInterceptionEnded({ id: i.id, ended_at: at(30) }),
      ),
    ]);
    await settled();
    expect(await interception(root.id)).toMatchObject({ thread_parent_id: null, thread_root_id: null });
    for (const [row, parent] of [
      [child, root],
      [grandchild, child],
      [great, grandchild],
    ])
      expect(await interception(row.id)).toMatchObject({
        thread_parent_id: parent.id,
        thread_root_id: root.id,
        session_id: root.id,
        ended_at: new Date(at(30)),
      });
    expect(await interception(stranger.id)).toMatchObject({ thread_parent_id: null, thread_root_id: null });
    // One session of four interceptions, counted once.
    expect(
      await rows(`SELECT count(*)::int AS n FROM aibridge_sessions WHERE session_id = $1`, [root.id]),
    ).toEqual([{ n: 1 }]);
  });

  it('dead-letters invalid messages with the problems named, keeping the valid records of a batch', async () => {
    const good = started();
    const ack = await publishRawBatch([
      { kind: 'interception.started', ...good },
      { kind: 'usage.token', id: 'not-a-uuid', interception_id: good.id, input_tokens: -1 },
    ]);
    await settled();
    expect(await interception(good.id)).toBeDefined();
    const letter = await deadLetterOf(ack.seq);
    expect(letter.error).toContain('records[1].id');
    expect(letter.error).toContain('records[1].input_tokens');
    expect(letter.deliveries).toBe(1);
  });

  it('retries a partly invalid message while it holds an end that cannot apply yet, then dead-letters it', async () => {
    await settled(); // nothing unacked: num_redelivered counts only this message below
    const late = started({ started_at: at(40) });
    const ack = await publishRawBatch([
      { kind: 'interception.ended', id: late.id, ended_at: at(41) },
      { kind: 'usage.prompt', id: randomUUID(), interception_id: late.id, prompt: 7 },
    ]);
    // The end is retried (not dead-lettered with the invalid prompt) until its start arrives.
    await waitFor(
      'a redelivery',
      async () =>
        (await jsm.consumers.info(cat.streamName('AIBRIDGE'), 'aibridge-recorder')).num_redelivered > 0,
    );
    await single.recordInterceptionStarted(late);
    const letter = await deadLetterOf(ack.seq);
    expect(letter.error).toContain('records[1].prompt');
    expect(letter.deliveries).toBeGreaterThan(1);
    expect((await interception(late.id)).ended_at?.toISOString()).toBe(at(41));
  });
});

/** A batch message as any gateway could send it, unvalidated (the typed client would refuse it). */
async function publishRawBatch(records: Record<string, unknown>[]) {
  const id = randomUUID();
  return jetstream(nc).publish(cat.absolute('aibridge.batch'), JSON.stringify({ v: 1, id, records }), {
    msgID: `batch:${id}`,
  });
}

/** The dead letter the recorder wrote for the AIBRIDGE message at `streamSeq`. */
async function deadLetterOf(streamSeq: number): Promise<DeadLetter> {
  const dlq = cat.streamName('DEAD_LETTERS');
  return waitFor('the dead letter', async () => {
    const last = (await jsm.streams.info(dlq)).state.last_seq;
    for (let seq = last; seq >= 1; seq--) {
      const m = await jsm.streams.getMessage(dlq, { seq }).catch(() => undefined);
      const l = m?.json<DeadLetter>();
      if (l?.stream_seq === streamSeq && l.consumer === 'aibridge-recorder') return l;
    }
    return undefined;
  });
}
