// The worker's engine: acquires pending chats (on a wake signal and on a poll), runs each
// through the injected turn runner up to the replica's capacity, keeps ownership alive with
// one heartbeat statement per interval for all its chats (cancelling the ones it lost), and
// sweeps stale chats of dead workers back to pending. Any replica may do the sweep.
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { BusService, OnBusMessage, Subjects } from '@agentmesh/bus';
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
    this.control = this.bus.subscribe(
      Subjects.chatdControl,
      (signal) => {
        if (this.chats.abort(signal.chat_id, 'interrupt'))
          this.logger.info(
            { chat_id: signal.chat_id, reason: signal.reason },
            'turn cancelled by control signal',
          );
      },
      { args: [this.opts.workerId], onError: (e) => this.logger.warn({ err: e }, 'control signal failed') },
    );
    every(this.opts.pollIntervalMs, () => this.acquire());
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    every(Math.max(1000, Math.floor(this.opts.staleAfterMs / 5)), () => this.recover());
    void this.recover().then(() => this.acquire());
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
            this.runner.run({ chat, workerId: this.opts.workerId, signal }).catch((e: unknown) => {
              this.logger.error({ err: e, chat_id: chat.id }, 'turn failed unexpectedly');
            }),
          () => {
            this.running.set(this.chats.size);
            // Capacity freed: look for more work now rather than at the next poll.
            void this.acquire();
          },
        );
      }
      this.running.set(this.chats.size);
      // A full batch means more may be waiting.
      if (claimed.length === Math.min(free, this.opts.acquireBatch) && claimed.length > 0)
        this.acquireAgain = true;
    } while (this.acquireAgain);
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
    try {
      // Interrupted chats a dead worker never finished: finish them on its behalf (clears the
      // worker and promotes the queue, as the worker's own turn end would have).
      for (const c of await findAbandonedWaitingChats(this.ds, this.opts.staleAfterMs)) {
        const r = await this.persistence.finishTurn(c.id, c.worker_id, { status: 'waiting' });
        if (r.applied)
          this.logger.warn(
            { chat_id: c.id, worker_id: c.worker_id },
            'finished an interrupted chat of a dead worker',
          );
      }
      const rows = await recoverStaleChats(this.ds, this.opts.staleAfterMs);
      if (rows.length === 0) return;
      this.recovered.inc(rows.length);
      this.logger.warn({ chats: rows.map((r) => r.id) }, 'recovered stale chats');
      this.bus.publish(Subjects.chatdWake, { v: 1 });
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
    // Keep heartbeating while turns wind down, so no other replica takes them meanwhile.
    await this.chats.settled();
    clearInterval(this.heartbeatTimer);
    // The runner hands chats back itself; this catches any it could not.
    const released = await releaseChats(this.ds, this.opts.workerId).catch(() => []);
    if (released.length > 0) {
      this.logger.info({ chats: released }, 'handed unfinished chats back to pending');
      this.bus.publish(Subjects.chatdWake, { v: 1 });
    }
  }
}
