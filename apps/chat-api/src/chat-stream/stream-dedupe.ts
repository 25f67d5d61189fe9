// How a stream socket merges its three sources without duplicates or gaps (pure logic, no
// I/O). A socket subscribes to `{p}.chat.{id}.stream` first and keeps every event that
// arrives; then it asks the owning worker for the parts of the step in progress (the
// buffer); then it reads Postgres (status, worker, messages after `after_id`, queue) in one
// snapshot. The events kept until that read started are "early", the rest "late".
//
// - Persisted state (status, messages, queue) comes from the read: it is at least as new as
//   every early event (each was published after its commit), so early status, message,
//   queue, error, retry and action_required events are superseded and dropped.
// - Parts exist only while the chat runs. The in-progress parts are the buffer's, unless
//   something ended or reset the step after the buffer's last part (a "boundary": a status,
//   a retry, an error, or a persisted assistant/tool message), followed by the early parts
//   after the last boundary, de-duplicated by `seq`. The buffer is ignored when it comes
//   from a worker other than the chat's owner (a stale owner answering).
// - Late and later live events go through LiveFilter: a `message` is sent once per id, a
//   `message_part` only when its `seq` is above the highest sent; `retry` and a new turn's
//   `status: running` reset the seq window; while the chat is not running (at the read, or
//   after a non-running status) parts are leftovers of a finished step and are dropped until
//   the next `status: running`.
// - The state is bounded for sockets open for days: parts need only the highest seq, and the
//   message ids sent are kept as SentMessageIds (the newest ids exactly, older ones as a floor).
import type {
  ChatBufferReply,
  ChatMessage,
  ChatQueuedMessage,
  ChatStatus,
  ChatStreamEvent,
} from '@agentmesh/contracts';

type PartEvent = Extract<ChatStreamEvent, { type: 'message_part' }>;

const isPart = (e: ChatStreamEvent): e is PartEvent => e.type === 'message_part';
const seqOf = (e: PartEvent): number | undefined => e.message_part.seq;

/** An event after which earlier parts no longer belong to the step in progress. */
export function isStepBoundary(e: ChatStreamEvent): boolean {
  switch (e.type) {
    case 'status':
    case 'retry':
    case 'error':
      return true;
    case 'message':
      // User messages come from chat-api, unordered with the worker's parts: not a boundary.
      return e.message.role === 'assistant' || e.message.role === 'tool';
    default:
      return false;
  }
}

/** How many of the newest sent message ids a socket remembers exactly. */
export const MESSAGE_ID_WINDOW = 1024;

/**
 * The message ids a socket has sent, in memory bounded by the window (at most twice the window
 * ids between trims, whatever the socket's age). Message ids come from one ascending sequence
 * and are published after their commit, so they arrive in id order except when transactions
 * commit concurrently (a user message from chat-api beside the worker's): the newest `window`
 * ids are remembered exactly, and every older id collapses into a floor — an id at or below it
 * counts as sent. A message is thus still delivered when it arrives late, unless more than
 * `window` newer messages of the chat came first (then it is taken for a duplicate).
 */
export class SentMessageIds {
  /** Every id at or below it counts as sent. */
  private floor = -Infinity;
  /** The ids above the floor, ascending. */
  private ids: number[] = [];

  constructor(private readonly window = MESSAGE_ID_WINDOW) {
    if (!(window >= 1)) throw new RangeError('the message id window must be at least 1');
  }

  /** Ids remembered exactly (for tests and metrics). */
  get size(): number {
    return this.ids.length;
  }

  /** Records `id` as sent; false when it already was. Ids that are not integers are never remembered. */
  add(id: number): boolean {
    if (!Number.isSafeInteger(id)) return true;
    if (id <= this.floor) return false;
    const ids = this.ids;
    if (ids.length === 0 || ids[ids.length - 1] < id) ids.push(id);
    else {
      let lo = 0;
      let hi = ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid;
      }
      if (ids[lo] === id) return false;
      ids.splice(lo, 0, id);
    }
    // Trimmed in steps of `window` ids, so in-order arrivals cost O(1) amortized.
    if (ids.length > 2 * this.window) {
      const drop = ids.length - this.window;
      this.floor = ids[drop - 1];
      this.ids = ids.slice(drop);
    }
    return true;
  }
}

/** De-duplicates live events for one socket; `accept` also advances the state. */
export class LiveFilter {
  constructor(
    private readonly sentMessageIds: SentMessageIds,
    private highestSeq: number,
    private awaitingTurn: boolean,
  ) {}

  accept(e: ChatStreamEvent): boolean {
    switch (e.type) {
      case 'message':
        return this.sentMessageIds.add(Number(e.message.id));
      case 'message_part': {
        if (this.awaitingTurn) return false;
        const seq = seqOf(e);
        if (seq === undefined) return true;
        if (seq <= this.highestSeq) return false;
        this.highestSeq = seq;
        return true;
      }
      case 'retry':
        this.highestSeq = 0;
        return true;
      case 'status':
        if (e.status.status === 'running') {
          this.highestSeq = 0;
          this.awaitingTurn = false;
        } else {
          this.awaitingTurn = true;
        }
        return true;
      default:
        return true;
    }
  }

  /** The accepted subset, in order (the same array when every event is accepted). */
  filter(events: readonly ChatStreamEvent[]): readonly ChatStreamEvent[] {
    let out: ChatStreamEvent[] | undefined;
    events.forEach((e, i) => {
      const ok = this.accept(e);
      if (!ok && !out) out = events.slice(0, i);
      else if (ok && out) out.push(e);
    });
    return out ?? events;
  }
}

export interface SnapshotInput {
  chatId: string;
  /** The chat's status and owning worker as the read saw them. */
  status: ChatStatus;
  workerId: string | null;
  /** Visible messages after `after_id`, ascending. */
  messages: readonly ChatMessage[];
  queue: readonly ChatQueuedMessage[];
  /** The worker's answer to the buffer request, if any. */
  buffer?: ChatBufferReply;
  /** Live events received before the read started, in arrival order. */
  early: readonly ChatStreamEvent[];
}

/** The snapshot frames' events (status, messages, in-progress parts, queue) and the filter for what follows. */
export function assembleSnapshot(
  input: SnapshotInput,
  messageIdWindow = MESSAGE_ID_WINDOW,
): { events: ChatStreamEvent[]; filter: LiveFilter } {
  const { chatId, early } = input;
  const events: ChatStreamEvent[] = [{ type: 'status', chat_id: chatId, status: { status: input.status } }];
  const sent = new SentMessageIds(messageIdWindow);
  for (const message of input.messages) {
    events.push({ type: 'message', chat_id: chatId, message });
    sent.add(Number(message.id));
  }
  // Early messages were committed before the read: shown above when visible, never again.
  for (const e of early) if (e.type === 'message') sent.add(Number(e.message.id));

  let highest = 0;
  const running = input.status === 'running';
  if (running) {
    let lastBoundary = -1;
    early.forEach((e, i) => {
      if (isStepBoundary(e)) lastBoundary = i;
    });
    const tail = early.slice(lastBoundary + 1).filter(isPart);
    const fromOwner =
      input.buffer !== undefined && (input.workerId === null || input.buffer.worker_id === input.workerId);
    const buffered = fromOwner ? (input.buffer?.events ?? []).filter(isPart) : [];
    let bufferCurrent = false;
    if (buffered.length > 0) {
      // The buffer's last part was published before the reply, hence (when after the
      // subscription) among the early events: it must come after the last boundary. Absent
      // from them, it predates the subscription, and so does the buffer as a whole: current
      // only when nothing ended the step since.
      const last = seqOf(buffered[buffered.length - 1]);
      bufferCurrent = lastBoundary < 0 || (last !== undefined && tail.some((e) => seqOf(e) === last));
    }
    for (const part of [...(bufferCurrent ? buffered : []), ...tail]) {
      const seq = seqOf(part);
      if (seq !== undefined) {
        if (seq <= highest) continue;
        highest = seq;
      }
      events.push(part);
    }
  }
  events.push({ type: 'queue_update', chat_id: chatId, queued_messages: [...input.queue] });
  return { events, filter: new LiveFilter(sent, highest, !running) };
}
