// What the worker runs for an acquired chat. The engine (acquire, heartbeat, recovery,
// shutdown) is independent of how a turn talks to the model; the turn runner is injected.
import type { AcquiredChat } from '@agentmesh/entities';

/** Why a turn's signal was aborted. */
export type AbortReason = 'stolen' | 'shutdown' | 'interrupt';

export interface TurnContext {
  chat: AcquiredChat;
  workerId: string;
  /** Aborted when the chat is lost (heartbeat), interrupted, or the worker shuts down. */
  signal: AbortSignal;
  /**
   * Runs best-effort work after the turn (the automatic title) outside the turn: it holds no
   * capacity slot and no heartbeat registration. Its signal aborts on shutdown, and shutdown
   * waits for it. Absent: the runner skips such work.
   */
  background?: (task: (signal: AbortSignal) => Promise<void>) => void;
}

export interface TurnRunner {
  /** Runs the turn to its end and writes the final status (through the chat state service). */
  run(ctx: TurnContext): Promise<void>;
}

export const TURN_RUNNER = Symbol('agentmesh.chatd.turnRunner');
