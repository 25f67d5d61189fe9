// The stream socket's merge rules without I/O: which early events and buffered parts make
// the snapshot, what the live filter lets through afterwards, and that its state stays
// bounded on a socket open for a long time.
import type { ChatMessage, ChatStatus, ChatStreamEvent } from '@agentmesh/contracts';
import {
  assembleSnapshot,
  isStepBoundary,
  LiveFilter,
  MESSAGE_ID_WINDOW,
  SentMessageIds,
  SnapshotInput,
} from './stream-dedupe';

const C = 'c1';
const W = 'w1';

const part = (seq: number | undefined, text = `p${seq}`): ChatStreamEvent => ({
  type: 'message_part',
  chat_id: C,
  message_part: { role: 'assistant', part: { type: 'text', text }, ...(seq === undefined ? {} : { seq }) },
});
const status = (s: ChatStatus): ChatStreamEvent => ({ type: 'status', chat_id: C, status: { status: s } });
const msg = (id: number, role: ChatMessage['role'] = 'assistant'): ChatMessage => ({
  id,
  chat_id: C,
  created_at: '2025-01-01T00:00:00Z',
  role,
});
const message = (id: number, role: ChatMessage['role'] = 'assistant'): ChatStreamEvent => ({
  type: 'message',
  chat_id: C,
  message: msg(id, role),
});
const retry: ChatStreamEvent = {
  type: 'retry',
  chat_id: C,
  retry: { attempt: 1, delay_ms: 1, error: 'x', retrying_at: '2025-01-01T00:00:00Z' },
};

function tag(e: ChatStreamEvent): string {
  switch (e.type) {
    case 'message_part':
      return `part:${e.message_part.seq}`;
    case 'message':
      return `message:${e.message.id}`;
    case 'status':
      return `status:${e.status.status}`;
    case 'queue_update':
      return 'queue';
    default:
      return e.type;
  }
}

function snapshot(over: Partial<SnapshotInput>) {
  const out = assembleSnapshot({
    chatId: C,
    status: 'running',
    workerId: W,
    messages: [],
    queue: [],
    early: [],
    ...over,
  });
  return { tags: out.events.map(tag), filter: out.filter };
}

const buffer = (...seqs: number[]) => ({ v: 1 as const, worker_id: W, events: seqs.map((s) => part(s)) });

describe('assembleSnapshot', () => {
  it('orders status, messages, parts, queue', () => {
    const messages = [msg(1, 'user'), msg(2)];
    expect(snapshot({ messages, buffer: buffer(1, 2) }).tags).toEqual([
      'status:running',
      'message:1',
      'message:2',
      'part:1',
      'part:2',
      'queue',
    ]);
  });

  it('appends the early parts after the buffer, each seq once', () => {
    expect(snapshot({ buffer: buffer(1, 2, 3), early: [part(2), part(3), part(4)] }).tags).toEqual([
      'status:running',
      'part:1',
      'part:2',
      'part:3',
      'part:4',
      'queue',
    ]);
  });

  it('keeps a buffer that predates the subscription when nothing ended the step since', () => {
    expect(snapshot({ buffer: buffer(1, 2), early: [] }).tags).toContain('part:2');
  });

  it('drops a buffer whose step ended after its last part (persisted message, retry, status)', () => {
    for (const boundary of [message(5), message(6, 'tool'), retry, status('running')]) {
      expect(snapshot({ buffer: buffer(1, 2), early: [part(2), boundary] }).tags).toEqual([
        'status:running',
        'queue',
      ]);
      // The last part is not among the early events: the buffer predates the boundary too.
      expect(snapshot({ buffer: buffer(1, 2), early: [boundary] }).tags).toEqual(['status:running', 'queue']);
    }
  });

  it('treats a user message (from chat-api, unordered with parts) as no boundary', () => {
    expect(isStepBoundary(message(7, 'user'))).toBe(false);
    expect(snapshot({ buffer: buffer(1, 2), early: [message(7, 'user')] }).tags).toContain('part:2');
  });

  it('uses the early parts after the last boundary when there is no buffer', () => {
    expect(snapshot({ early: [part(7), message(8), status('running'), part(1), part(2)] }).tags).toEqual([
      'status:running',
      'part:1',
      'part:2',
      'queue',
    ]);
    // After a retry the attempt's parts are the in-progress ones.
    expect(snapshot({ early: [part(1), retry, part(2)] }).tags).toEqual([
      'status:running',
      'part:2',
      'queue',
    ]);
  });

  it("ignores another worker's buffer", () => {
    expect(snapshot({ buffer: { ...buffer(1), worker_id: 'stale' }, early: [part(2)] }).tags).toEqual([
      'status:running',
      'part:2',
      'queue',
    ]);
  });

  it('sends no parts unless the chat is running', () => {
    for (const s of ['waiting', 'pending', 'error', 'requires_action'] as const) {
      expect(snapshot({ status: s, buffer: buffer(1), early: [part(2)] }).tags).toEqual([
        `status:${s}`,
        'queue',
      ]);
    }
  });

  it('hands on the highest seq sent and the message ids seen', () => {
    const { filter } = snapshot({
      messages: [msg(3)],
      buffer: buffer(1, 2),
      early: [message(4, 'user')],
    });
    expect(
      [part(2), part(3), message(3), message(4), message(5)].filter((e) => filter.accept(e)).map(tag),
    ).toEqual(['part:3', 'message:5']);
  });

  it('leaves a non-running chat waiting for the next turn before passing parts', () => {
    const { filter } = snapshot({ status: 'waiting' });
    const live = [part(9), status('running'), part(1), part(2)];
    expect(live.filter((e) => filter.accept(e)).map(tag)).toEqual(['status:running', 'part:1', 'part:2']);
  });
});

describe('LiveFilter', () => {
  it('passes each message id once and parts above the highest seq', () => {
    const f = new LiveFilter(new SentMessageIds(), 0, false);
    const events = [
      part(1),
      part(1),
      part(3),
      part(2),
      message(1),
      message(1),
      part(undefined),
      part(undefined),
    ];
    expect(events.filter((e) => f.accept(e)).map(tag)).toEqual([
      'part:1',
      'part:3',
      'message:1',
      'part:undefined',
      'part:undefined',
    ]);
  });

  it('resets the seq window on retry and on a new turn, and drops parts between turns', () => {
    const f = new LiveFilter(new SentMessageIds(), 5, false);
    const events = [part(5), retry, part(1), status('waiting'), part(2), status('running'), part(1)];
    expect(events.filter((e) => f.accept(e)).map(tag)).toEqual([
      'retry',
      'part:1',
      'status:waiting',
      'status:running',
      'part:1',
    ]);
  });

  it('returns the same array when every event passes, a subset otherwise', () => {
    const f = new LiveFilter(new SentMessageIds(), 0, false);
    const all = [part(1), part(2)];
    expect(f.filter(all)).toBe(all);
    const some = [part(2), part(3), part(3), part(4)];
    expect(f.filter(some).map(tag)).toEqual(['part:3', 'part:4']);
  });
});

describe('SentMessageIds', () => {
  it('remembers each id once, in or out of order', () => {
    const ids = new SentMessageIds(4);
    expect([5, 3, 5, 4, 3, 6, 1, 6].map((id) => ids.add(id))).toEqual([
      true,
      true,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
  });

  it('stays within twice the window however many ids it sees, and still drops duplicates', () => {
    const ids = new SentMessageIds(); // the default window
    let largest = 0;
    let refused = 0;
    for (let id = 1; id <= 100_000; id++) {
      if (!ids.add(id)) refused++;
      largest = Math.max(largest, ids.size);
    }
    expect(refused).toBe(0);
    expect(largest).toBeLessThanOrEqual(2 * MESSAGE_ID_WINDOW);
    expect(ids.size).toBeLessThanOrEqual(2 * MESSAGE_ID_WINDOW);
    // Recent and old ids alike are duplicates; the next one is new.
    for (const id of [100_000, 99_999, 100_000 - MESSAGE_ID_WINDOW + 1, 50_000, 1])
      expect(ids.add(id)).toBe(false);
    expect(ids.add(100_001)).toBe(true);
  });

  it('accepts a late id while at most a window of newer ids came first', () => {
    const ids = new SentMessageIds(8);
    // Ids of a chat are sparse (one sequence for every chat); 1000 commits late.
    for (let id = 1001; id < 1001 + 8 * 10; id += 10) ids.add(id); // a window of newer ids
    expect(ids.add(1000)).toBe(true);
    expect(ids.add(1000)).toBe(false);
    // Far behind: more than a window of newer ids have been sent since; taken as a duplicate.
    for (let id = 2000; id < 2100; id++) ids.add(id);
    expect(ids.size).toBeLessThanOrEqual(16);
    expect(ids.add(1500)).toBe(false);
    expect(ids.add(2099 - 7)).toBe(false);
    expect(ids.add(2100)).toBe(true);
  });

  it('passes ids that are not integers through without remembering them', () => {
    const ids = new SentMessageIds(2);
    expect(ids.add(Number.NaN)).toBe(true);
    expect(ids.add(Number.NaN)).toBe(true);
    expect(ids.size).toBe(0);
    expect(ids.add(1)).toBe(true);
    expect(ids.add(1)).toBe(false);
  });
});

describe('a long-lived socket', () => {
  it('keeps bounded state over 100k messages and many turns, without duplicates or gaps', () => {
    const window = 64;
    const sent = new SentMessageIds(window);
    const f = new LiveFilter(sent, 0, false);
    const delivered: string[] = [];
    const expected: string[] = [];
    let id = 0;
    let largest = 0;
    for (let turn = 0; turn < 50_000; turn++) {
      const user = ++id;
      const assistant = ++id;
      // The user's message and the turn's answer may commit in either order; some events are
      // published twice (two replicas, a redelivery).
      const live = [
        status('running'),
        part(1),
        part(2),
        part(2),
        ...(turn % 3 === 0 ? [retry, part(1), part(2)] : []),
        part(3),
        ...(turn % 2 === 0
          ? [message(assistant), message(user, 'user')]
          : [message(user, 'user'), message(assistant)]),
        message(assistant),
        message(user, 'user'),
        status('waiting'),
        part(4), // a leftover after the turn: dropped
      ];
      for (const e of live) if (f.accept(e)) delivered.push(tag(e));
      expected.push(
        'status:running',
        'part:1',
        'part:2',
        ...(turn % 3 === 0 ? ['retry', 'part:1', 'part:2'] : []),
        'part:3',
        ...(turn % 2 === 0
          ? [`message:${assistant}`, `message:${user}`]
          : [`message:${user}`, `message:${assistant}`]),
        'status:waiting',
      );
      largest = Math.max(largest, sent.size);
    }
    expect(id).toBe(100_000);
    expect(largest).toBeLessThanOrEqual(2 * window);
    expect(delivered).toEqual(expected);
    expect(sent.size).toBeLessThanOrEqual(2 * window);
  });

  it("bounds the ids a long chat's snapshot hands to the live filter, still dropping the ones it sent", () => {
    const messages = Array.from({ length: 100_000 }, (_, i) => msg(i + 1));
    const early = [message(100_001, 'user')];
    const { filter } = assembleSnapshot(
      { chatId: C, status: 'waiting', workerId: null, messages, queue: [], early },
      32,
    );
    const state = (filter as unknown as { sentMessageIds: SentMessageIds }).sentMessageIds;
    expect(state.size).toBeLessThanOrEqual(64);
    expect(
      [message(1), message(99_999), message(100_000), message(100_001), message(100_002)]
        .filter((e) => filter.accept(e))
        .map(tag),
    ).toEqual(['message:100002']);
  });
});
