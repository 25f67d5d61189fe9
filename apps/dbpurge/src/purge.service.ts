// The retention loop. Every PURGE_INTERVAL one replica (whoever wins the transaction-scoped
// advisory lock) deletes expired rows in bounded batches, so a large backlog never holds
// long locks; the others skip the tick. The clock is injectable so tests drive time.
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { queryRows, tryAdvisoryXactLock } from '@agentmesh/db';
import { LOGGER, Metrics } from '@agentmesh/observability';

export const PURGE_OPTIONS = Symbol('agentmesh.dbpurge.options');
export interface PurgeOptions {
  intervalMs: number;
  /** Expired API keys are kept this long after expiry; 0 = keep forever. */
  apiKeyRetentionMs: number;
  batchSize: number;
  now: () => Date;
}

export interface PurgeResult {
  ran: boolean;
  deleted: Record<string, number>;
}

@Injectable()
export class PurgeService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<unknown>;
  private readonly rows;
  private readonly runs;
  private readonly duration;

  constructor(
    private readonly ds: DataSource,
    @Inject(PURGE_OPTIONS) private readonly opts: PurgeOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.rows = metrics.counter('dbpurge_rows_deleted_total', 'Rows deleted by dbpurge', ['table']);
    this.runs = metrics.counter('dbpurge_runs_total', 'dbpurge ticks by outcome', ['outcome']);
    this.duration = metrics.histogram('dbpurge_duration_seconds', 'Duration of a dbpurge tick');
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tickSafely(), this.opts.intervalMs);
    this.timer.unref();
    void this.tickSafely();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }

  /** One purge pass; `ran` is false when another replica holds the lock. */
  async tick(): Promise<PurgeResult> {
    const end = this.duration.startTimer();
    try {
      return await this.ds.transaction(async (em) => {
        if (!(await tryAdvisoryXactLock(em, 'dbpurge'))) return { ran: false, deleted: {} };
        const deleted: Record<string, number> = {};
        if (this.opts.apiKeyRetentionMs > 0) {
          const cutoff = new Date(this.opts.now().getTime() - this.opts.apiKeyRetentionMs);
          const rows = await queryRows<{ n: number }>(
            em,
            `WITH doomed AS (SELECT id FROM api_keys WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)
             DELETE FROM api_keys k USING doomed WHERE k.id = doomed.id RETURNING 1 AS n`,
            [cutoff, this.opts.batchSize],
          );
          deleted.api_keys = rows.length;
        }
        return { ran: true, deleted };
      });
    } finally {
      end();
    }
  }

  private async tickSafely(): Promise<void> {
    if (this.inFlight) return;
    const p = this.tick().then(
      (r) => {
        this.runs.labels(r.ran ? 'ran' : 'skipped').inc();
        for (const [table, n] of Object.entries(r.deleted)) {
          this.rows.labels(table).inc(n);
          if (n > 0) this.logger.info({ table, deleted: n }, 'purged expired rows');
        }
      },
      (e: unknown) => {
        this.runs.labels('error').inc();
        this.logger.error({ err: e }, 'dbpurge tick failed');
      },
    );
    this.inFlight = p;
    await p;
    this.inFlight = undefined;
  }
}
