// Usage normalisation from the AI SDK's totals-with-details shape.
import type { LanguageModelUsage } from 'ai';
import { addUsage, EMPTY_USAGE, normalizeUsage } from './usage';

const sdkUsage = (overrides: Partial<LanguageModelUsage>): LanguageModelUsage => ({
  inputTokens: undefined,
  inputTokenDetails: { noCacheTokens: undefined, cacheReadTokens: undefined, cacheWriteTokens: undefined },
  outputTokens: undefined,
  outputTokenDetails: { textTokens: undefined, reasoningTokens: undefined },
  totalTokens: undefined,
  ...overrides,
});

describe('normalizeUsage', () => {
  it('uses the uncached input count and keeps cache reads and writes apart', () => {
    expect(
      normalizeUsage(
        sdkUsage({
          inputTokens: 160,
          inputTokenDetails: { noCacheTokens: 10, cacheReadTokens: 100, cacheWriteTokens: 50 },
          outputTokens: 40,
          outputTokenDetails: { textTokens: 30, reasoningTokens: 10 },
          totalTokens: 200,
        }),
      ),
    ).toEqual({
      inputTokens: 10,
      cacheReadTokens: 100,
      cacheWriteTokens: 50,
      outputTokens: 40,
      reasoningTokens: 10,
      totalTokens: 200,
    });
  });

  it('derives uncached input from the total when the provider gives no split', () => {
    const usage = normalizeUsage(
      sdkUsage({
        inputTokens: 120,
        inputTokenDetails: { noCacheTokens: undefined, cacheReadTokens: 100, cacheWriteTokens: undefined },
      }),
    );
    expect(usage).toMatchObject({ inputTokens: 20, cacheReadTokens: 100 });
  });

  it('computes the total when the provider omits it', () => {
    const usage = normalizeUsage(
      sdkUsage({
        inputTokenDetails: { noCacheTokens: 5, cacheReadTokens: 6, cacheWriteTokens: 7 },
        outputTokens: 8,
      }),
    );
    expect(usage.totalTokens).toBe(26);
  });

  it('reports missing usage as zeros', () => {
    expect(normalizeUsage(undefined)).toEqual(EMPTY_USAGE);
    expect(normalizeUsage(sdkUsage({}))).toEqual(EMPTY_USAGE);
  });
});

describe('addUsage', () => {
  it('adds every count', () => {
    const a = {
      inputTokens: 1,
      outputTokens: 2,
      totalTokens: 3,
      reasoningTokens: 4,
      cacheReadTokens: 5,
      cacheWriteTokens: 6,
    };
    expect(addUsage(a, a)).toEqual({
      inputTokens: 2,
      outputTokens: 4,
      totalTokens: 6,
      reasoningTokens: 8,
      cacheReadTokens: 10,
      cacheWriteTokens: 12,
    });
  });
});
