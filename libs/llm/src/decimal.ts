// Exact decimals for prices. Model configs store per-million-token prices as JSON strings
// or numbers ("3", "0.075", 1.25, 1e-7); multiplying those as floats drifts (0.1 × 3 is
// not 0.3), so a decimal becomes an integer count of 10^-scale units held in a bigint.
export interface ScaledDecimal {
  /** value = units / 10^scale */
  units: bigint;
  scale: number;
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Parse a decimal string or a finite number; throws RangeError on anything else. */
export function parseDecimal(value: string | number): ScaledDecimal {
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new RangeError(`Not a finite number: ${value}`);
  // A number's shortest round-trip form is the decimal that was written in the JSON.
  const text = String(value).trim();
  const match = DECIMAL.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (!match || whole.length + fraction.length === 0) throw new RangeError(`Not a decimal: "${text}"`);
  const exponent = Number(match[4] ?? 0);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) {
    throw new RangeError(`Decimal exponent out of range: "${text}"`);
  }
  let units = BigInt(whole + fraction || '0');
  let scale = fraction.length - exponent;
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: match[1] === '-' ? -units : units, scale };
}

/** ceil(numerator / denominator) for a non-negative numerator and a positive denominator. */
export function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}
