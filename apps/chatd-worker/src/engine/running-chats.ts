// The chats this worker runs right now: capacity accounting, the abort handle of each turn,
// and a way to wait for all of them (graceful shutdown).
import { Injectable } from '@nestjs/common';
import type { AbortReason } from './turn-runner';

interface Entry {
  controller: AbortController;
  done: Promise<void>;
  /** Identifies this turn among the chat's turns (its acquisition's started_at). */
  turn?: string;
}

@Injectable()
export class RunningChats {
  private readonly chats = new Map<string, Entry>();

  get size(): number {
    return this.chats.size;
  }

  ids(): string[] {
    return [...this.chats.keys()];
  }

  has(chatId: string): boolean {
    return this.chats.has(chatId);
  }

  /**
   * Registers a turn; it is removed when `run` settles, then `onDone` runs (capacity is free).
   * Returns false (and runs nothing) while a turn of the same chat is still registered.
   */
  start(
    chatId: string,
    run: (signal: AbortSignal) => Promise<void>,
    onDone?: () => void,
    turn?: string,
  ): boolean {
    if (this.chats.has(chatId)) return false;
    const controller = new AbortController();
    const entry: Entry = { controller, done: Promise.resolve(), turn };
    this.chats.set(chatId, entry);
    entry.done = run(controller.signal).finally(() => {
      if (this.chats.get(chatId) === entry) this.chats.delete(chatId);
      onDone?.();
    });
    return true;
  }

  /** The running turns as (id, handle) pairs, for a check that may race with restarts. */
  snapshot(): { chatId: string; handle: AbortController }[] {
    return [...this.chats].map(([chatId, e]) => ({ chatId, handle: e.controller }));
  }

  /** Aborts the turn only if it is still the one `handle` names (not a newer turn of the chat). */
  abortIfCurrent(chatId: string, handle: AbortController, reason: AbortReason): boolean {
    if (this.chats.get(chatId)?.controller !== handle) return false;
    return this.abort(chatId, reason);
  }

  /** The abort handle of the chat's running turn, if any (see abortIfCurrent). */
  handle(chatId: string): AbortController | undefined {
    return this.chats.get(chatId)?.controller;
  }

  /** Aborts the chat's running turn only if it is the turn `turn` names. */
  abortTurn(chatId: string, turn: string, reason: AbortReason): boolean {
    if (this.chats.get(chatId)?.turn !== turn) return false;
    return this.abort(chatId, reason);
  }

  abort(chatId: string, reason: AbortReason): boolean {
    const entry = this.chats.get(chatId);
    if (!entry) return false;
    entry.controller.abort(reason);
    return true;
  }

  abortAll(reason: AbortReason): void {
    for (const id of this.chats.keys()) this.abort(id, reason);
  }

  /** Resolves when every registered turn has settled. */
  async settled(): Promise<void> {
    while (this.chats.size > 0) await Promise.allSettled([...this.chats.values()].map((e) => e.done));
  }
}
