// Cost rules: micro-dollars = Σ tokens × USD-per-million price, exact decimal arithmetic,
// rounded up once; undefined (NULL) when nothing used is priced.
import {
  computeCostMicros,
  CostPrices,
  CostTokenCounts,
  costMicrosForUsage,
  pricesFromCallConfig,
} from './cost';
import { EMPTY_USAGE } from './usage';

describe('computeCostMicros', () => {
  it.each<[string, CostTokenCounts, CostPrices | undefined, number | undefined]>([
    ['no price config is unpriced', { inputTokens: 1000 }, undefined, undefined],
    ['an empty price config is unpriced', { inputTokens: 42 }, {}, undefined],
    ['no reported usage is unpriced', {}, { input_price_per_million_tokens: '3' }, undefined],
    [
      'usage only in unpriced categories is unpriced',
      { inputTokens: 1000 },
      { output_price_per_million_tokens: '15' },
      undefined,
    ],
    [
      'input only: 1000 × $3/M = 3000 µ$',
      { inputTokens: 1000 },
      { input_price_per_million_tokens: '3' },
      3000,
    ],
    [
      'output only: 500 × $15/M = 7500 µ$',
      { outputTokens: 500 },
      { output_price_per_million_tokens: 15 },
      7500,
    ],
    [
      'reasoning is part of the output and not charged again',
      { outputTokens: 500, reasoningTokens: 200 },
      { output_price_per_million_tokens: '15' },
      7500,
    ],
    [
      'cache reads use their own price',
      { cacheReadTokens: 10_000 },
      { cache_read_price_per_million_tokens: '0.3' },
      3000,
    ],
    [
      'cache writes use their own price',
      { cacheWriteTokens: 5000 },
      { cache_write_price_per_million_tokens: '3.75' },
      18_750,
    ],
    ['a sub-micro total rounds up to 1', { inputTokens: 1 }, { input_price_per_million_tokens: '0.01' }, 1],
    [
      'all components add exactly before one rounding up (2004.66 → 2005)',
      {
        inputTokens: 101,
        outputTokens: 201,
        reasoningTokens: 52,
        cacheReadTokens: 1005,
        cacheWriteTokens: 33,
      },
      {
        input_price_per_million_tokens: '1.23',
        output_price_per_million_tokens: '4.56',
        cache_read_price_per_million_tokens: '0.7',
        cache_write_price_per_million_tokens: '7.89',
      },
      2005,
    ],
    [
      'only priced categories contribute',
      { inputTokens: 1234, outputTokens: 999, cacheReadTokens: 500 },
      { input_price_per_million_tokens: '2.5' },
      3085,
    ],
    ['zero tokens with a price cost 0', { inputTokens: 0 }, { input_price_per_million_tokens: '3' }, 0],
    // As floats, 100 × 0.07 is 7.000000000000001 and would round up to 8.
    [
      'no float drift: 100 × $0.07/M is exactly 7',
      { inputTokens: 100 },
      { input_price_per_million_tokens: 0.07 },
      7,
    ],
    [
      'no float drift: 3 × $0.1/M + 7 × $0.2/M is 1.7 → 2',
      { inputTokens: 3, outputTokens: 7 },
      { input_price_per_million_tokens: '0.1', output_price_per_million_tokens: '0.2' },
      2,
    ],
    [
      'exponent notation: 10^7 × 1e-7 = 1',
      { inputTokens: 10_000_000 },
      { input_price_per_million_tokens: 1e-7 },
      1,
    ],
    [
      'large counts stay exact',
      { inputTokens: 123_456_789 },
      { input_price_per_million_tokens: '75' },
      9_259_259_175,
    ],
    ['a null price is no price', { inputTokens: 5 }, { input_price_per_million_tokens: null }, undefined],
  ])('%s', (_name, counts, prices, expected) => {
    expect(computeCostMicros(counts, prices)).toBe(expected);
  });

  it('rejects a negative price instead of paying the user', () => {
    expect(() => computeCostMicros({ inputTokens: 1 }, { input_price_per_million_tokens: '-1' })).toThrow(
      RangeError,
    );
  });

  it('rejects a price that is not a decimal', () => {
    expect(() => computeCostMicros({ inputTokens: 1 }, { input_price_per_million_tokens: 'cheap' })).toThrow(
      RangeError,
    );
  });
});

describe('pricesFromCallConfig', () => {
  it('reads model_config.cost', () => {
    expect(pricesFromCallConfig({ cost: { input_price_per_million_tokens: '1' } })).toEqual({
      input_price_per_million_tokens: '1',
    });
  });

  it('accepts the legacy top-level price keys', () => {
    expect(pricesFromCallConfig({ output_price_per_million_tokens: 2, temperature: 1 })).toEqual({
      output_price_per_million_tokens: 2,
    });
  });

  it('is undefined for a config without prices', () => {
    expect(pricesFromCallConfig({ temperature: 1 })).toBeUndefined();
    expect(pricesFromCallConfig(undefined)).toBeUndefined();
  });
});

describe('costMicrosForUsage', () => {
  it('prices a step usage under a model config', () => {
    const usage = {
      ...EMPTY_USAGE,
      inputTokens: 1000,
      outputTokens: 100,
      cacheReadTokens: 2000,
      totalTokens: 3100,
    };
    const config = {
      cost: {
        input_price_per_million_tokens: '3',
        output_price_per_million_tokens: '15',
        cache_read_price_per_million_tokens: '0.3',
      },
    };
    expect(costMicrosForUsage(usage, config)).toBe(3000 + 1500 + 600);
  });

  it('treats zero counts as unreported, so a call that reported nothing stays unpriced', () => {
    expect(
      costMicrosForUsage(EMPTY_USAGE, { cost: { input_price_per_million_tokens: '3' } }),
    ).toBeUndefined();
  });
});
