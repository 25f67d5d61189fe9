// When to retry a failed model call and how long to wait (reference chatd §3.1, §3.9):
// up to 25 attempts, backoff starting at 1 s and doubling to a 60 s cap; a provider's
// retry-after can lengthen the wait (never beyond the cap) but not shorten it.
import type { ClassifiedLlmError } from './error-classification';

export const RETRY_MAX_ATTEMPTS = 25;
export const RETRY_BASE_DELAY_MS = 1_000;
export const RETRY_MAX_DELAY_MS = 60_000;

/** Delay before retry number `attempt` (1 = the first retry). */
export function retryDelayMs(attempt: number, retryAfterMs?: number): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const backoff = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** exponent);
  return Math.min(RETRY_MAX_DELAY_MS, Math.max(backoff, retryAfterMs ?? 0));
}

/** Whether a call that failed on `attempt` (1-based) should be tried again. */
export function shouldRetry(error: ClassifiedLlmError, attempt: number): boolean {
  return error.retryable && attempt < RETRY_MAX_ATTEMPTS;
}
