// The chatd engine against a real database and NATS: acquire (capacity, SKIP LOCKED across
// replicas, wake signal), the single heartbeat statement cancelling lost chats, stale
// recovery, and shutdown handing chats back. The turn runner is the test's own: it holds
// each turn open until the test releases it.
import { randomUUID } from 'node:crypto';
import { Test, TestingModule } from '@nestjs/testing';
import { Client } from 'pg';
import { BusModule, BusService, Subjects } from '@agentmesh/bus';
import { ChatCommands, TurnPersistence } from '@agentmesh/chats';
import type { ChatdControlSignal } from '@agentmesh/contracts';
import { DatabaseModule } from '@agentmesh/db';
import { createLogger, Metrics, ObservabilityModule } from '@agentmesh/observability';
import {
  deleteStreamsForPrefix,
  randomPrefix,
  TEST_NATS_URL,
  useTestDatabase,
  waitFor,
} from '@agentmesh/testing';
import { ChatEngine, ENGINE_OPTIONS, EngineOptions } from '../src/engine/chat-engine.service';
import { RunningChats } from '../src/engine/running-chats';
import { TURN_RUNNER, TurnContext, TurnRunner } from '../src/engine/turn-runner';

class HeldTurns implements TurnRunner {
  readonly started: TurnContext[] = [];
  readonly aborted: { chatId: string; reason: unknown }[] = [];
  private readonly releases = new Map<string, () => void>();

  run(ctx: TurnContext): Promise<void> {
    this.started.push(ctx);
    return new Promise<void>((resolve) => {
      const finish = () => resolve();
      this.releases.set(ctx.chat.id, finish);
      ctx.signal.addEventListener('abort', () => {
        this.aborted.push({ chatId: ctx.chat.id, reason: ctx.signal.reason });
        finish();
      });
    });
  }

  release(chatId: string): void {
    this.releases.get(chatId)?.();
  }
}

/** Chats whose turn end fails (a chat recovery cannot finish, for the stale sweep test). */
const failingFinish = new Set<string>();
class FailingFinishPersistence extends TurnPersistence {
  override finishTurn(
    ...args: Parameters<TurnPersistence['finishTurn']>
  ): ReturnType<TurnPersistence['finishTurn']> {
    if (failingFinish.has(args[0])) return Promise.reject(new Error('finishTurn failed'));
    return super.finishTurn(...args);
  }
}

describe('chat engine', () => {
  const db = useTestDatabase();
  const prefix = randomPrefix();
  let pg: Client;
  let ownerId: string;
  let orgId: string;
  let modelId: string;

  beforeAll(async () => {
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    ownerId = randomUUID();
    orgId = randomUUID();
    modelId = randomUUID();
    await pg.query(`INSERT INTO users (id, email, username) VALUES ($1, 'w@example.com', 'worker-owner')`, [
      ownerId,
    ]);
    await pg.query(`INSERT INTO organizations (id, name, display_name) VALUES ($1, 'org', 'Org')`, [orgId]);
    await pg.query(
      `INSERT INTO chat_providers (id, provider, display_name) VALUES ($1, 'openai', 'OpenAI')`,
      [randomUUID()],
    );
    await pg.query(
      `INSERT INTO chat_model_configs (id, provider, model, context_limit, compression_threshold) VALUES ($1, 'openai', 'gpt-test', 1000, 70)`,
      [modelId],
    );
  });
  // Each test starts from a database with no pending or running chats of earlier tests.
  beforeEach(() =>
    pg.query(`UPDATE chats SET status = 'waiting', worker_id = NULL WHERE status IN ('pending', 'running')`),
  );
  afterAll(async () => {
    await pg.end();
    await deleteStreamsForPrefix(prefix);
  });

  async function pendingChat(): Promise<string> {
    const id = randomUUID();
    await pg.query(
      `INSERT INTO chats (id, owner_id, organization_id, last_model_config_id, status) VALUES ($1, $2, $3, $4, 'pending')`,
      [id, ownerId, orgId, modelId],
    );
    return id;
  }
  const statusOf = async (id: string) =>
    (await pg.query(`SELECT status, worker_id FROM chats WHERE id = $1`, [id])).rows[0];
  /** The statuses of the status_change events queued for the chat (the relay is off here). */
  const announced = async (id: string): Promise<string[]> =>
    (
      await pg.query(
        `SELECT payload->'chat'->>'status' AS status FROM event_outbox
          WHERE payload->>'kind' = 'status_change' AND payload->'chat'->>'id' = $1 ORDER BY id`,
        [id],
      )
    ).rows.map((r) => r.status);

  async function worker(
    opts: Partial<EngineOptions>,
    runner = new HeldTurns(),
    persistence: typeof TurnPersistence = TurnPersistence,
  ) {
    const workerId = randomUUID();
    const app: TestingModule = await Test.createTestingModule({
      imports: [
        ObservabilityModule.forRoot({
          logger: createLogger('chatd-test', 'silent'),
          metrics: new Metrics('chatd-test'),
        }),
        DatabaseModule.forRoot({ url: db.url, poolSize: 4, applicationName: 'chatd-test' }),
        BusModule.forRoot({
          nats: { servers: [TEST_NATS_URL], prefix, name: 'chatd-test' },
          subscriptions: [{ kind: 'subject', subject: Subjects.chatdWake }],
          streams: [],
        }),
      ],
      providers: [
        RunningChats,
        { provide: TurnPersistence, useClass: persistence },
        ChatCommands,
        ChatEngine,
        { provide: TURN_RUNNER, useValue: runner },
        {
          provide: ENGINE_OPTIONS,
          useValue: {
            workerId,
            maxChats: 3,
            acquireBatch: 10,
            pollIntervalMs: 60_000,
            heartbeatIntervalMs: 60_000,
            staleAfterMs: 60_000,
            ...opts,
          } satisfies EngineOptions,
        },
      ],
    }).compile();
    await app.init();
    return { app, runner, workerId, engine: app.get(ChatEngine) };
  }

  it('a wake signal gets a pending chat acquired at once, and capacity caps what one replica takes', async () => {
    const w = await worker({});
    try {
      const ids = await Promise.all([1, 2, 3, 4, 5].map(() => pendingChat()));
      w.app.get(BusService).publish(Subjects.chatdWake, { v: 1 });
      await waitFor('three turns started', async () => w.runner.started.length === 3);
      const rows = await Promise.all(ids.map(statusOf));
      expect(rows.filter((r) => r.status === 'running' && r.worker_id === w.workerId)).toHaveLength(3);
      expect(rows.filter((r) => r.status === 'pending')).toHaveLength(2);
      // Finishing a turn frees capacity and the worker takes the next chat without waiting for a poll.
      w.runner.release(w.runner.started[0].chat.id);
      await waitFor('a fourth turn started', async () => w.runner.started.length === 4);
    } finally {
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('two replicas never acquire the same chat', async () => {
    const a = await worker({ maxChats: 50 });
    const b = await worker({ maxChats: 50 });
    try {
      const ids = await Promise.all(Array.from({ length: 40 }, () => pendingChat()));
      await Promise.all([a.engine.acquire(), b.engine.acquire(), a.engine.acquire(), b.engine.acquire()]);
      await waitFor(
        'all chats acquired',
        async () => a.runner.started.length + b.runner.started.length >= ids.length,
      );
      const all = [...a.runner.started, ...b.runner.started]
        .map((t) => t.chat.id)
        .filter((id) => ids.includes(id));
      expect(new Set(all).size).toBe(all.length);
      expect(all.sort()).toEqual([...ids].sort());
    } finally {
      for (const w of [a, b]) {
        w.runner.started.forEach((t) => w.runner.release(t.chat.id));
        await w.app.close();
      }
    }
  });

  it('the heartbeat cancels a turn whose chat was taken away, and keeps the others', async () => {
    const w = await worker({ maxChats: 2 });
    try {
      const [kept, lost] = [await pendingChat(), await pendingChat()];
      await w.engine.acquire();
      await waitFor('both started', async () => w.runner.started.length === 2);
      // Another actor (an edit, an interrupt, a recovery) takes the chat away.
      await pg.query(`UPDATE chats SET status = 'pending', worker_id = NULL WHERE id = $1`, [lost]);
      const before = (await statusOf(kept)).worker_id;
      await w.engine.heartbeat();
      expect(w.runner.aborted).toEqual([{ chatId: lost, reason: 'stolen' }]);
      expect(before).toBe(w.workerId);
      const { rows } = await pg.query(
        `SELECT heartbeat_at > now() - interval '5 seconds' AS fresh FROM chats WHERE id = $1`,
        [kept],
      );
      expect(rows[0].fresh).toBe(true);
    } finally {
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('recovers the chats of a dead worker after the stale threshold and another worker resumes them', async () => {
    const id = await pendingChat();
    // A worker that died: running, stale heartbeat.
    await pg.query(
      `UPDATE chats SET status = 'running', worker_id = $2, heartbeat_at = now() - interval '10 minutes' WHERE id = $1`,
      [id, randomUUID()],
    );
    const w = await worker({ staleAfterMs: 60_000 });
    try {
      await waitFor('the chat resumed on the live worker', async () =>
        w.runner.started.some((t) => t.chat.id === id),
      );
      expect(await statusOf(id)).toEqual({ status: 'running', worker_id: w.workerId });
      // The recovery is announced to /watch (with the chat as it was read: pending, or
      // running again if this worker was quicker).
      const statuses = await waitFor('the recovery announced', async () => {
        const a = await announced(id);
        return a.length > 0 ? a : undefined;
      });
      expect(['pending', 'running']).toContain(statuses[0]);
    } finally {
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('finishes an interrupted chat whose worker died: the queued message is promoted and answered', async () => {
    const id = await pendingChat();
    const dead = randomUUID();
    await pg.query(
      `UPDATE chats SET status = 'waiting', worker_id = $2, heartbeat_at = now() - interval '10 minutes' WHERE id = $1`,
      [id, dead],
    );
    await pg.query(`INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, $2)`, [
      id,
      JSON.stringify([{ type: 'text', text: 'next' }]),
    ]);
    const w = await worker({ staleAfterMs: 60_000 });
    try {
      await waitFor('the promoted message runs on the live worker', async () =>
        w.runner.started.some((t) => t.chat.id === id),
      );
      const { rows } = await pg.query(
        `SELECT count(*)::int AS n FROM chat_queued_messages WHERE chat_id = $1`,
        [id],
      );
      expect(rows[0].n).toBe(0);
      const msgs = await pg.query(`SELECT role, content FROM chat_messages WHERE chat_id = $1`, [id]);
      expect(msgs.rows).toEqual([{ role: 'user', content: [{ type: 'text', text: 'next' }] }]);
    } finally {
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('shutdown aborts running turns and hands their chats back to pending', async () => {
    const w = await worker({});
    const id = await pendingChat();
    await w.engine.acquire();
    await waitFor('started', async () => w.runner.started.some((t) => t.chat.id === id));
    await w.app.close();
    expect(w.runner.aborted).toContainEqual({ chatId: id, reason: 'shutdown' });
    expect(await statusOf(id)).toEqual({ status: 'pending', worker_id: null });
    expect(await announced(id)).toEqual(['pending']);
  });
  it('a late control signal for an earlier turn does not cancel the next turn of the chat; one for the current turn does', async () => {
    const w = await worker({});
    const bus = w.app.get(BusService);
    const seen: ChatdControlSignal[] = [];
    const sub = bus.subscribe(Subjects.chatdControl, (s) => void seen.push(s), { args: [w.workerId] });
    try {
      const id = await pendingChat();
      await w.engine.acquire();
      await waitFor('turn 1', async () => w.runner.started.some((t) => t.chat.id === id));
      const turn1 = w.runner.started.find((t) => t.chat.id === id) as TurnContext;
      const { rows } = await pg.query(
        `INSERT INTO chat_queued_messages (chat_id, content) VALUES ($1, $2) RETURNING id`,
        [id, JSON.stringify([{ type: 'text', text: 'follow-up' }])],
      );
      // chat-api promotes the queued message: pending, worker cleared, control signal + wake.
      await w.app.get(ChatCommands).promoteQueued(id, Number(rows[0].id));
      const signal = await waitFor('the control signal', async () => seen.find((s) => s.chat_id === id));
      // The signal names the turn it interrupts.
      expect(signal.started_at).toBe(turn1.chat.started_at.toISOString());
      await waitFor('turn 1 cancelled', async () => turn1.signal.aborted);
      await waitFor(
        'turn 2 started',
        async () => w.runner.started.filter((t) => t.chat.id === id).length === 2,
      );
      const turn2 = w.runner.started.filter((t) => t.chat.id === id)[1];
      expect(turn2.chat.started_at.getTime()).not.toBe(turn1.chat.started_at.getTime());

      // The same signal delivered late (after the re-acquisition) leaves turn 2 alone; so does
      // one without started_at (an older sender) while the chat is still running here.
      await w.engine.onControl(signal);
      await w.engine.onControl({ v: 1, chat_id: id, reason: 'interrupt', status: 'pending' });
      expect(turn2.signal.aborted).toBe(false);
      expect(w.runner.aborted.filter((a) => a.chatId === id)).toEqual([{ chatId: id, reason: 'interrupt' }]);

      // Over NATS as well: the stale signal, then one for the current turn.
      bus.publish(Subjects.chatdControl, signal, w.workerId);
      bus.publish(
        Subjects.chatdControl,
        { ...signal, started_at: turn2.chat.started_at.toISOString() },
        w.workerId,
      );
      await waitFor('turn 2 cancelled', async () => turn2.signal.aborted);
      expect(w.runner.aborted.filter((a) => a.chatId === id)).toHaveLength(2);
    } finally {
      sub.unsubscribe();
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('a control signal without started_at cancels the turn once the chat is no longer running here', async () => {
    const w = await worker({});
    try {
      const id = await pendingChat();
      await w.engine.acquire();
      await waitFor('started', async () => w.runner.started.some((t) => t.chat.id === id));
      const turn = w.runner.started.find((t) => t.chat.id === id) as TurnContext;
      await pg.query(`UPDATE chats SET status = 'waiting' WHERE id = $1`, [id]);
      await w.engine.onControl({ v: 1, chat_id: id, reason: 'interrupt', status: 'waiting' });
      expect(turn.signal.aborted).toBe(true);
      expect(turn.signal.reason).toBe('interrupt');
    } finally {
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
    }
  });

  it('an abandoned chat that cannot be finished neither blocks the others nor the stale sweep', async () => {
    const dead = randomUUID();
    const [bad, good, stale] = [await pendingChat(), await pendingChat(), await pendingChat()];
    await pg.query(
      `UPDATE chats SET status = 'waiting', worker_id = $2, heartbeat_at = now() - interval '10 minutes'
        WHERE id = ANY($1::uuid[])`,
      [[bad, good], dead],
    );
    await pg.query(
      `UPDATE chats SET status = 'running', worker_id = $2, heartbeat_at = now() - interval '10 minutes' WHERE id = $1`,
      [stale, dead],
    );
    failingFinish.add(bad);
    const w = await worker({ staleAfterMs: 60_000 }, new HeldTurns(), FailingFinishPersistence);
    try {
      await waitFor('the stale chat resumed', async () => w.runner.started.some((t) => t.chat.id === stale));
      await waitFor(
        'the other abandoned chat finished',
        async () => (await statusOf(good)).worker_id === null,
      );
      expect(await statusOf(good)).toEqual({ status: 'waiting', worker_id: null });
      expect(await statusOf(bad)).toEqual({ status: 'waiting', worker_id: dead });
    } finally {
      failingFinish.delete(bad);
      w.runner.started.forEach((t) => w.runner.release(t.chat.id));
      await w.app.close();
      await pg.query(`UPDATE chats SET worker_id = NULL WHERE id = $1`, [bad]);
    }
  });

  it('work after a turn holds no capacity slot; shutdown cancels it and waits for it', async () => {
    let cancelled = false;
    let finished = false;
    class BackgroundTurns extends HeldTurns {
      override run(ctx: TurnContext): Promise<void> {
        ctx.background?.(
          (signal) =>
            new Promise<void>((resolve) =>
              signal.addEventListener('abort', () => {
                cancelled = true;
                setTimeout(() => {
                  finished = true;
                  resolve();
                }, 50);
              }),
            ),
        );
        return Promise.resolve();
      }
    }
    const w = await worker({}, new BackgroundTurns());
    const id = await pendingChat();
    await w.engine.acquire();
    await waitFor('turn over, its background work in flight', async () => w.engine.backgroundTasks === 1);
    expect(w.app.get(RunningChats).has(id)).toBe(false);
    await w.app.close();
    expect(cancelled).toBe(true);
    expect(finished).toBe(true);
    expect(w.engine.backgroundTasks).toBe(0);
  });
});
