// `{p}.config.changed`: published after a committed admin change so every replica drops what
// it cached, and received here so this replica's caches hear about other replicas' changes.
// A core-NATS signal: losing one costs a cache lifetime, never data, so a publish failure is
// logged and the request still succeeds (caches also expire on their own).
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { BusService, OnBusMessage, Subjects } from '@agentmesh/bus';
import type { ConfigChangedEvent } from '@agentmesh/contracts';
import { LOGGER } from '@agentmesh/observability';
import { CONFIG_KINDS } from './constants';

export type ConfigKind = (typeof CONFIG_KINDS)[keyof typeof CONFIG_KINDS];
export type ConfigChangeListener = (event: ConfigChangedEvent) => void;

@Injectable()
export class ConfigEvents {
  private readonly listeners = new Set<ConfigChangeListener>();

  constructor(
    private readonly bus: BusService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Calls `listener` for every change, local or from another replica; returns an unsubscribe. */
  onChanged(listener: ConfigChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Announces a committed change: local listeners at once, other replicas over NATS. */
  changed(kind: ConfigKind, entityId?: string): void {
    const event: ConfigChangedEvent = { v: 1, kind, ...(entityId ? { entity_id: entityId } : {}) };
    this.notify(event);
    try {
      this.bus.publish(Subjects.configChanged, event);
    } catch (err) {
      this.logger.warn({ err, kind, entity_id: entityId }, 'could not publish config.changed');
    }
  }

  /** Changes announced by any replica (this one's own come back too; listeners are idempotent). */
  @OnBusMessage(Subjects.configChanged)
  received(event: ConfigChangedEvent): void {
    this.notify(event);
  }

  private notify(event: ConfigChangedEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, kind: event.kind }, 'config change listener failed');
      }
    }
  }
}
