// Decimal parsing for prices: every accepted form maps to the exact scaled integer.
import { ceilDiv, parseDecimal } from './decimal';

describe('parseDecimal', () => {
  it.each<[string | number, bigint, number]>([
    ['3', 3n, 0],
    ['3.75', 375n, 2],
    ['0.000001', 1n, 6],
    ['.5', 5n, 1],
    ['10.', 10n, 0],
    [' 2.50 ', 250n, 2],
    ['1e-7', 1n, 7],
    ['1.5E+2', 150n, 0],
    [0.07, 7n, 2],
    [1e21, 10n ** 21n, 0],
    ['-1.5', -15n, 1],
  ])('%p is %p × 10^-%p', (input, units, scale) => {
    expect(parseDecimal(input)).toEqual({ units, scale });
  });

  it.each(['', '.', 'abc', '1.2.3', '1e', '0x10', 'NaN'])('rejects %p', (input) => {
    expect(() => parseDecimal(input)).toThrow(RangeError);
  });

  it('rejects non-finite numbers', () => {
    expect(() => parseDecimal(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('ceilDiv', () => {
  it('rounds any remainder up and exact quotients not at all', () => {
    expect(ceilDiv(7n, 2n)).toBe(4n);
    expect(ceilDiv(8n, 2n)).toBe(4n);
    expect(ceilDiv(0n, 5n)).toBe(0n);
  });
});
