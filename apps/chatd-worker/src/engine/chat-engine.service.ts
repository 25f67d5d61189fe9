// The worker's engine: acquires pending chats (on a wake signal and on a poll), runs each
// through the injected turn runner up to the replica's capacity, keeps ownership alive with
// one heartbeat statement per interval for all its chats (cancelling the ones it lost), and
// sweeps stale chats of dead workers back to pending. Any replica may do the sweep.
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { BusService, OnBusMessage, Subjects } from '@agentmesh/bus';
import type { ChatdControlSignal } from '@agentmesh/contracts';
import { TurnPersistence } from '@agentmesh/chats';
import {
  acquireChats,
  findAbandonedWaitingChats,
  heartbeatChats,
  recoverStaleChats,
  releaseChats,
} from '@agentmesh/entities';
import { LOGGER, Metrics } from '@agentmesh/observability';
import { RunningChats } from './running-chats';
import { TURN_RUNNER, TurnRunner } from './turn-runner';

export interface EngineOptions {
  workerId: string;
  maxChats: number;
  /** Chats claimed per acquire statement (the reference claims 10). */
  acquireBatch: number;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  staleAfterMs: number;
}

export const ENGINE_OPTIONS = Symbol('agentmesh.chatd.engineOptions');

@Injectable()
export class ChatEngine implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timers: NodeJS.Timeout[] = [];
  private heartbeatTimer?: NodeJS.Timeout;
  private beating = false;
  private control?: Subscription;
  private acquiring?: Promise<void>;
  private acquireAgain = false;
  private stopping = false;
  /** Work after turns (titles): aborted and awaited on shutdown. */
  private readonly background = new Set<Promise<void>>();
  private readonly backgroundAbort = new AbortController();
  private readonly acquired;
  private readonly running;
  private readonly heartbeatDuration;
  private readonly lost;
  private readonly recovered;

  constructor(
    private readonly ds: DataSource,
    private readonly chats: RunningChats,
    private readonly bus: BusService,
    private readonly persistence: TurnPersistence,
    @Inject(TURN_RUNNER) private readonly runner: TurnRunner,
    @Inject(ENGINE_OPTIONS) private readonly opts: EngineOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.acquired = metrics.counter('chatd_acquired_total', 'Chats acquired by this worker');
    this.running = metrics.gauge('chatd_running_chats', 'Chats this worker is running');
    this.heartbeatDuration = metrics.histogram(
      'chatd_heartbeat_duration_seconds',
      'Duration of one heartbeat statement',
    );
    this.lost = metrics.counter('chatd_lost_chats_total', 'Running chats whose ownership was lost');
    this.recovered = metrics.counter('chatd_recovered_chats_total', 'Stale chats moved back to pending');
  }

  onApplicationBootstrap(): void {
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn(), ms);
      t.unref();
      this.timers.push(t);
    };
    // Interrupts and other control signals addressed to this worker cancel the turn at once
    // (the heartbeat would notice too, one interval later).
    this.control = this.bus.subscribe(Subjects.chatdControl, (signal) => void this.onControl(signal), {
      args: [this.opts.workerId],
      onError: (e) => this.logger.warn({ err: e }, 'control signal failed'),
    });
    every(this.opts.pollIntervalMs, () => this.acquire());
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    every(Math.max(1000, Math.floor(this.opts.staleAfterMs / 5)), () => this.recover());
    void this.recover().then(() => this.acquire());
  }

  /**
   * Cancels the turn a control signal is about, and only that one: a signal can arrive after
   * its turn ended and the chat was acquired again by this worker. A signal naming its turn
   * (started_at) cancels only that turn; one that does not cancels the running turn only if
   * the chat is no longer running under this worker (checked after taking the turn's handle).
   */
  async onControl(signal: ChatdControlSignal): Promise<void> {
    const chatId = signal.chat_id;
    try {
      let cancelled = false;
      const turn = signal.started_at === undefined ? undefined : turnKey(signal.started_at);
      if (turn !== undefined) {
        cancelled = this.chats.abortTurn(chatId, turn, 'interrupt');
      } else {
        const handle = this.chats.handle(chatId);
        if (!handle) return;
        const alive = await heartbeatChats(this.ds, this.opts.workerId, [chatId]);
        cancelled = !alive.includes(chatId) && this.chats.abortIfCurrent(chatId, handle, 'interrupt');
      }
      if (cancelled)
        this.logger.info({ chat_id: chatId, reason: signal.reason }, 'turn cancelled by control signal');
      else
        this.logger.debug({ chat_id: chatId, reason: signal.reason }, 'control signal for no running turn');
    } catch (e) {
      this.logger.warn({ err: e, chat_id: chatId }, 'control signal failed');
    }
  }

  /** Every worker with free capacity races for the chat; SKIP LOCKED picks one. */
  @OnBusMessage(Subjects.chatdWake)
  onWake(): void {
    void this.acquire();
  }

  /** Claims as many pending chats as capacity allows and starts them; coalesces callers. */
  acquire(): Promise<void> {
    if (this.acquiring) {
      this.acquireAgain = true;
      return this.acquiring;
    }
    this.acquiring = this.acquireLoop().finally(() => {
      this.acquiring = undefined;
    });
    return this.acquiring;
  }

  private async acquireLoop(): Promise<void> {
    do {
      this.acquireAgain = false;
      const free = this.opts.maxChats - this.chats.size;
      if (this.stopping || free <= 0) return;
      let claimed;
      try {
        claimed = await acquireChats(
          this.ds,
          this.opts.workerId,
          Math.min(free, this.opts.acquireBatch),
          this.chats.ids(),
        );
      } catch (e) {
        this.logger.error({ err: e }, 'acquire failed');
        return;
      }
      for (const chat of claimed) {
        this.acquired.inc();
        this.chats.start(
          chat.id,
          (signal) =>
            this.runner
              .run({
                chat,
                workerId: this.opts.workerId,
                signal,
                background: (task) => this.runBackground(chat.id, task),
              })
              .catch((e: unknown) => {
                this.logger.error({ err: e, chat_id: chat.id }, 'turn failed unexpectedly');
              }),
          () => {
            this.running.set(this.chats.size);
            // Capacity freed: look for more work now rather than at the next poll.
            void this.acquire();
          },
          chat.started_at ? turnKey(chat.started_at) : undefined,
        );
      }
      this.running.set(this.chats.size);
      // A full batch means more may be waiting.
      if (claimed.length === Math.min(free, this.opts.acquireBatch) && claimed.length > 0)
        this.acquireAgain = true;
    } while (this.acquireAgain);
  }

  /** Tracks work after a turn so shutdown can abort it and wait for it. */
  private runBackground(chatId: string, task: (signal: AbortSignal) => Promise<void>): void {
    const p: Promise<void> = Promise.resolve()
      .then(() => task(this.backgroundAbort.signal))
      .catch((e: unknown) => this.logger.warn({ err: e, chat_id: chatId }, 'work after the turn failed'))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** Work after turns (titles) still in flight. */
  get backgroundTasks(): number {
    return this.background.size;
  }

  /** One statement for all running chats; cancels those no longer ours. */
  async heartbeat(): Promise<void> {
    // A slow tick must not overlap the next one.
    if (this.beating) return;
    const running = this.chats.snapshot();
    if (running.length === 0) return;
    this.beating = true;
    const end = this.heartbeatDuration.startTimer();
    try {
      const alive = new Set(
        await heartbeatChats(
          this.ds,
          this.opts.workerId,
          running.map((r) => r.chatId),
        ),
      );
      for (const { chatId, handle } of running) {
        // Only the turn seen before the statement: a newer turn of the same chat is not lost.
        if (!alive.has(chatId) && this.chats.abortIfCurrent(chatId, handle, 'stolen')) {
          this.lost.inc();
          this.logger.warn({ chat_id: chatId }, 'lost ownership of chat; cancelling its turn');
        }
      }
    } catch (e) {
      this.logger.error({ err: e }, 'heartbeat failed');
    } finally {
      this.beating = false;
      end();
    }
  }

  /** Moves chats of dead workers back to pending and wakes the workers. */
  async recover(): Promise<void> {
    // Interrupted chats a dead worker never finished: finish them on its behalf (clears the
    // worker and promotes the queue, as the worker's own turn end would have). One failing
    // chat must not keep the others, or the stale sweep below, from running.
    try {
      for (const c of await findAbandonedWaitingChats(this.ds, this.opts.staleAfterMs)) {
        try {
          const r = await this.persistence.finishTurn(c.id, c.worker_id, { status: 'waiting' });
          if (r.applied)
            this.logger.warn(
              { chat_id: c.id, worker_id: c.worker_id },
              'finished an interrupted chat of a dead worker',
            );
        } catch (e) {
          this.logger.error(
            { err: e, chat_id: c.id, worker_id: c.worker_id },
            'could not finish an interrupted chat of a dead worker',
          );
        }
      }
    } catch (e) {
      this.logger.error({ err: e }, 'looking for abandoned interrupted chats failed');
    }
    try {
      const rows = await recoverStaleChats(this.ds, this.opts.staleAfterMs);
      if (rows.length === 0) return;
      this.recovered.inc(rows.length);
      this.logger.warn({ chats: rows.map((r) => r.id) }, 'recovered stale chats');
      this.bus.publish(Subjects.chatdWake, { v: 1 });
      await this.announce(rows.map((r) => r.id));
    } catch (e) {
      this.logger.error({ err: e }, 'stale recovery failed');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.control?.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    await this.acquiring;
    this.chats.abortAll('shutdown');
    // Titles are best effort: cancel them rather than hold shutdown for a model call.
    this.backgroundAbort.abort('shutdown');
    // Keep heartbeating while turns wind down, so no other replica takes them meanwhile.
    await this.chats.settled();
    clearInterval(this.heartbeatTimer);
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    // The runner hands chats back itself; this catches any it could not.
    const released = await releaseChats(this.ds, this.opts.workerId).catch(() => []);
    if (released.length > 0) {
      this.logger.info({ chats: released }, 'handed unfinished chats back to pending');
      this.bus.publish(Subjects.chatdWake, { v: 1 });
      await this.announce(released);
    }
  }

  /** status_change events for chats this worker moved (best effort: logged on failure). */
  private async announce(chatIds: string[]): Promise<void> {
    await this.persistence
      .announceStatus(chatIds)
      .catch((e: unknown) =>
        this.logger.warn({ err: e, chats: chatIds }, 'could not announce status changes'),
      );
  }
}

/** A turn's identity in control signals: its acquisition's started_at, normalized. */
function turnKey(startedAt: Date | string): string | undefined {
  const t = new Date(startedAt).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
