// Fixed-window counters for login attempts, per client IP and per account. Kept in the
// replica's memory: each chat-api replica enforces the limit on the traffic it serves,
// which bounds guessing to limit × replicas per window without a shared store. The map is
// bounded: past `maxKeys` the oldest windows are dropped first (Map keeps insertion order).
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one attempt; returns the seconds to wait when over the limit, else 0. */
  hit(key: string): number {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= t) {
      this.windows.delete(key);
      w = { count: 0, resetAt: t + this.windowMs };
      this.windows.set(key, w);
      while (this.windows.size > this.maxKeys)
        this.windows.delete(this.windows.keys().next().value as string);
    }
    w.count++;
    return w.count > this.limit ? Math.ceil((w.resetAt - t) / 1000) : 0;
  }
}
