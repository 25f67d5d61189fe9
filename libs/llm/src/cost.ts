// Cost of a model call in integer micro-dollars (reference chatd §4.4, wire contract
// §4.2). A price is USD per million tokens, so one token costs `price` micro-dollars and
// the total is Σ tokens × price, computed exactly and rounded up once at the end (so any
// priced usage costs at least 1 µ$ instead of vanishing). Reasoning tokens are part of
// the output and are not charged twice. The result is undefined (NULL) when the config has
// no price for any category the call used, so "unpriced" stays distinct from "free".
import type { ChatModelCallConfig } from '@agentmesh/contracts';
import { ceilDiv, parseDecimal, ScaledDecimal } from './decimal';
import type { TokenUsage } from './usage';

type Price = string | number | null | undefined;

/** `model_config.cost`: USD per 1M tokens, as decimal strings or numbers. */
export interface CostPrices {
  input_price_per_million_tokens?: Price;
  output_price_per_million_tokens?: Price;
  cache_read_price_per_million_tokens?: Price;
  cache_write_price_per_million_tokens?: Price;
}

/** Token counts to price; undefined or null means "not reported". */
export interface CostTokenCounts {
  inputTokens?: number | null;
  outputTokens?: number | null;
  reasoningTokens?: number | null;
  cacheReadTokens?: number | null;
  cacheWriteTokens?: number | null;
}

const PRICE_KEYS = [
  'input_price_per_million_tokens',
  'output_price_per_million_tokens',
  'cache_read_price_per_million_tokens',
  'cache_write_price_per_million_tokens',
] as const;

/** Cost in micro-dollars, or undefined when nothing the call used is priced. */
export function computeCostMicros(
  counts: CostTokenCounts,
  prices: CostPrices | null | undefined,
): number | undefined {
  if (!prices) return undefined;
  const components: [number | null | undefined, Price][] = [
    [counts.inputTokens, prices.input_price_per_million_tokens],
    [counts.outputTokens, prices.output_price_per_million_tokens],
    [counts.cacheReadTokens, prices.cache_read_price_per_million_tokens],
    [counts.cacheWriteTokens, prices.cache_write_price_per_million_tokens],
  ];
  const priced: [bigint, ScaledDecimal][] = [];
  for (const [tokens, price] of components) {
    if (tokens == null || price == null || price === '') continue;
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`Invalid token count: ${tokens}`);
    const decimal = parseDecimal(price);
    if (decimal.units < 0n) throw new RangeError(`Negative price: ${price}`);
    priced.push([BigInt(tokens), decimal]);
  }
  if (priced.length === 0) return undefined;
  // Bring every product to the finest scale, add exactly, round up once.
  const scale = Math.max(...priced.map(([, d]) => d.scale));
  const sum = priced.reduce(
    (acc, [tokens, d]) => acc + tokens * d.units * 10n ** BigInt(scale - d.scale),
    0n,
  );
  const micros = ceilDiv(sum, 10n ** BigInt(scale));
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`Cost out of range: ${micros} µ$`);
  return Number(micros);
}

/**
 * The prices of a model config: `cost`, or the same keys at the top level (legacy input the
 * reference still accepts). Undefined when neither is present.
 */
export function pricesFromCallConfig(
  config: ChatModelCallConfig | Record<string, unknown> | null | undefined,
) {
  if (!config) return undefined;
  const record = config as Record<string, unknown>;
  if (record.cost && typeof record.cost === 'object') return record.cost as CostPrices;
  const legacy = PRICE_KEYS.filter((key) => record[key] != null);
  if (legacy.length === 0) return undefined;
  return Object.fromEntries(legacy.map((key) => [key, record[key] as Price])) as CostPrices;
}

/**
 * Cost of one step's usage under a model config. Zero counts are "not reported", as the
 * reference stores them (NULL), so a call that reported nothing stays unpriced.
 */
export function costMicrosForUsage(
  usage: TokenUsage,
  config: ChatModelCallConfig | Record<string, unknown> | null | undefined,
): number | undefined {
  const orUndefined = (n: number) => (n > 0 ? n : undefined);
  return computeCostMicros(
    {
      inputTokens: orUndefined(usage.inputTokens),
      outputTokens: orUndefined(usage.outputTokens),
      reasoningTokens: orUndefined(usage.reasoningTokens),
      cacheReadTokens: orUndefined(usage.cacheReadTokens),
      cacheWriteTokens: orUndefined(usage.cacheWriteTokens),
    },
    pricesFromCallConfig(config),
  );
}
