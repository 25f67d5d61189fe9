// Retry timing: 1 s doubling to a 60 s cap, retry-after may lengthen a wait, 25 attempts.
import type { ClassifiedLlmError } from './error-classification';
import { RETRY_MAX_ATTEMPTS, retryDelayMs, shouldRetry } from './retry-policy';

describe('retryDelayMs', () => {
  it('starts at 1 s and doubles up to the 60 s cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 25].map((attempt) => retryDelayMs(attempt))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });

  it('waits at least the provider retry-after, but never past the cap', () => {
    expect(retryDelayMs(1, 5000)).toBe(5000);
    expect(retryDelayMs(4, 5000)).toBe(8000);
    expect(retryDelayMs(1, 120_000)).toBe(60_000);
  });
});

describe('shouldRetry', () => {
  const error = (retryable: boolean): ClassifiedLlmError => ({
    kind: retryable ? 'rate_limit' : 'auth',
    retryable,
    message: 'm',
    provider: 'openai',
  });

  it('retries retryable errors until the attempt limit', () => {
    expect(shouldRetry(error(true), 1)).toBe(true);
    expect(shouldRetry(error(true), RETRY_MAX_ATTEMPTS - 1)).toBe(true);
    expect(shouldRetry(error(true), RETRY_MAX_ATTEMPTS)).toBe(false);
  });

  it('never retries a non-retryable error', () => {
    expect(shouldRetry(error(false), 1)).toBe(false);
  });
});
