import { RunningChats } from './running-chats';

describe('RunningChats', () => {
  it('refuses a second turn of a chat whose previous turn has not settled', async () => {
    const chats = new RunningChats();
    let release!: () => void;
    expect(chats.start('c1', () => new Promise<void>((r) => (release = r)))).toBe(true);
    const second = jest.fn(async () => undefined);
    expect(chats.start('c1', second)).toBe(false);
    expect(second).not.toHaveBeenCalled();
    release();
    await chats.settled();
    expect(chats.has('c1')).toBe(false);
  });

  it('aborts only the turn a snapshot saw, not a newer turn of the same chat', async () => {
    const chats = new RunningChats();
    const reasons: unknown[] = [];
    const hold = (signal: AbortSignal) =>
      new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason);
          resolve();
        }),
      );
    chats.start('c1', hold);
    const [old] = chats.snapshot();
    chats.abort('c1', 'interrupt');
    await chats.settled();
    chats.start('c1', hold);
    expect(chats.abortIfCurrent('c1', old.handle, 'stolen')).toBe(false);
    expect(chats.has('c1')).toBe(true);
    const [current] = chats.snapshot();
    expect(chats.abortIfCurrent('c1', current.handle, 'stolen')).toBe(true);
    await chats.settled();
    expect(reasons).toEqual(['interrupt', 'stolen']);
  });

  it('aborts by turn only the turn with that token', async () => {
    const chats = new RunningChats();
    let signal!: AbortSignal;
    chats.start(
      'c1',
      (s) => new Promise<void>((r) => ((signal = s), s.addEventListener('abort', () => r()))),
      undefined,
      't2',
    );
    expect(chats.abortTurn('c1', 't1', 'interrupt')).toBe(false);
    expect(signal.aborted).toBe(false);
    expect(chats.abortTurn('c1', 't2', 'interrupt')).toBe(true);
    expect(signal.reason).toBe('interrupt');
    await chats.settled();
  });
});
