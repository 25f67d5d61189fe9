// The chats this worker runs right now: capacity accounting, the abort handle of each turn,
// and a way to wait for all of them (graceful shutdown).
import { Injectable } from '@nestjs/common';
import type { AbortReason } from './turn-runner';

interface Entry {
  controller: AbortController;
  done: Promise<void>;
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

  /** Registers a turn; it is removed when `run` settles, then `onDone` runs (capacity is free). */
  start(chatId: string, run: (signal: AbortSignal) => Promise<void>, onDone?: () => void): void {
    const controller = new AbortController();
    const done = run(controller.signal).finally(() => {
      this.chats.delete(chatId);
      onDone?.();
    });
    this.chats.set(chatId, { controller, done });
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
