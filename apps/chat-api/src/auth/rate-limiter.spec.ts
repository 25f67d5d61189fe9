import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows `limit` hits per window, then answers the seconds left, and resets with the window', () => {
    let now = 1_000_000;
    const rl = new RateLimiter(2, 60_000, 100, () => now);
    expect([rl.hit('a'), rl.hit('a')]).toEqual([0, 0]);
    expect(rl.hit('a')).toBe(60);
    now += 30_500;
    expect(rl.hit('a')).toBe(30);
    expect(rl.hit('b')).toBe(0);
    now += 30_000;
    expect(rl.hit('a')).toBe(0);
  });

  it('keeps at most maxKeys windows, dropping the oldest', () => {
    const rl = new RateLimiter(1, 60_000, 3, () => 0);
    for (const k of ['a', 'b', 'c', 'd']) rl.hit(k);
    // 'a' was evicted, so it starts a fresh window; 'd' is still counted.
    expect(rl.hit('a')).toBe(0);
    expect(rl.hit('d')).toBe(60);
  });
});
