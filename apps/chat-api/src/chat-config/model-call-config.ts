// A model config's options (`model_config` on the wire, `options` in the table): validation
// of what an admin sends, the canonical stored form, and the wire form.
//
// Stored form = the wire ChatModelCallConfig with prices as canonical decimal strings under
// `cost` (legacy top-level price keys are folded into `cost`), and no empty objects. The
// worker reads it as is (libs/llm call options and cost). Provider options are opaque JSON
// (wire contract §4.2), but the fields the reference types with enums or numbers are checked
// here, so a typo fails at the admin's request rather than at a user's turn.
import type { ChatCostPrices, ChatModelCallConfig } from '@agentmesh/contracts';
import { parseDecimal, pricesFromCallConfig } from '@agentmesh/llm';
import { ApiError } from '../http/api-error';
import { Messages } from './constants';

export const PRICE_KEYS = [
  'input_price_per_million_tokens',
  'output_price_per_million_tokens',
  'cache_read_price_per_million_tokens',
  'cache_write_price_per_million_tokens',
] as const;

export const OPENAI_SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority'] as const;
export const OPENAI_REASONING_SUMMARIES = ['auto', 'concise', 'detailed'] as const;
export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;

/** Serialized options larger than this are refused (they are sent with every model call). */
export const MAX_OPTIONS_JSON_BYTES = 64 * 1024;
const MAX_PRICE_CHARS = 64;

type Spec =
  | { kind: 'number'; min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean }
  | { kind: 'bool' }
  | { kind: 'string'; maxLength?: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'strings' }
  | { kind: 'object'; fields: Record<string, Spec> };

const int = (min: number, exclusiveMin = false): Spec => ({
  kind: 'number',
  integer: true,
  min,
  exclusiveMin,
});
const bool: Spec = { kind: 'bool' };
const str: Spec = { kind: 'string', maxLength: 8192 };
const oneOf = (values: readonly string[]): Spec => ({ kind: 'enum', values });

/** Call settings (wire contract §4.2). */
const CALL_FIELDS: Record<string, Spec> = {
  max_output_tokens: int(0, true),
  temperature: { kind: 'number', min: 0, max: 2 },
  top_p: { kind: 'number', min: 0, max: 1 },
  top_k: int(0),
  presence_penalty: { kind: 'number', min: -2, max: 2 },
  frequency_penalty: { kind: 'number', min: -2, max: 2 },
};

/**
 * Typed fields of each provider's options (codersdk ChatModel*ProviderOptions). Other keys are
 * kept as given: the options are opaque JSON for the provider.
 */
const PROVIDER_OPTION_FIELDS: Record<string, Record<string, Spec>> = {
  openai: {
    service_tier: oneOf(OPENAI_SERVICE_TIERS),
    reasoning_summary: oneOf(OPENAI_REASONING_SUMMARIES),
    reasoning_effort: oneOf(REASONING_EFFORTS),
    text_verbosity: oneOf(['low', 'medium', 'high']),
    parallel_tool_calls: bool,
    store: bool,
    max_tool_calls: int(0),
    max_completion_tokens: int(0, true),
    user: str,
    instructions: str,
    include: { kind: 'strings' },
  },
  anthropic: {
    send_reasoning: bool,
    effort: oneOf(['low', 'medium', 'high', 'max']),
    disable_parallel_tool_use: bool,
    thinking: { kind: 'object', fields: { budget_tokens: int(0, true) } },
  },
  google: {
    thinking_config: {
      kind: 'object',
      // -1 asks Gemini for a dynamic budget.
      fields: { thinking_budget: int(-1), include_thoughts: bool },
    },
  },
  openaicompat: { reasoning_effort: oneOf(REASONING_EFFORTS), user: str },
  openrouter: {
    parallel_tool_calls: bool,
    reasoning: {
      kind: 'object',
      fields: {
        enabled: bool,
        exclude: bool,
        max_tokens: int(0, true),
        effort: oneOf(['low', 'medium', 'high']),
      },
    },
  },
  vercel: {
    parallel_tool_calls: bool,
    reasoning: {
      kind: 'object',
      fields: { enabled: bool, exclude: bool, max_tokens: int(0, true), effort: oneOf(REASONING_EFFORTS) },
    },
  },
};

export const PROVIDER_OPTION_KEYS = Object.keys(PROVIDER_OPTION_FIELDS);

class Problem extends Error {
  constructor(
    /** Path inside model_config, e.g. `cost.input_price_per_million_tokens`. */
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path} ${problem}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const join = (parent: string, key: string) => (parent ? `${parent}.${key}` : key);

function checkValue(spec: Spec, value: unknown, path: string): unknown {
  switch (spec.kind) {
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Problem(path, 'must be a number');
      if (spec.integer && !Number.isSafeInteger(value)) throw new Problem(path, 'must be an integer');
      if (spec.min !== undefined && (spec.exclusiveMin ? value <= spec.min : value < spec.min))
        throw new Problem(
          path,
          spec.exclusiveMin ? `must be greater than ${spec.min}` : `must be at least ${spec.min}`,
        );
      if (spec.max !== undefined && value > spec.max) throw new Problem(path, `must be at most ${spec.max}`);
      return value;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new Problem(path, 'must be a boolean');
      return value;
    case 'string':
      if (typeof value !== 'string') throw new Problem(path, 'must be a string');
      if (spec.maxLength !== undefined && value.length > spec.maxLength)
        throw new Problem(path, `must be at most ${spec.maxLength} characters`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value))
        throw new Problem(path, `must be one of: ${spec.values.join(', ')}`);
      return value;
    case 'strings':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
        throw new Problem(path, 'must be an array of strings');
      return value;
    case 'object':
      if (!isObject(value)) throw new Problem(path, 'must be an object');
      return checkKnownFields(spec.fields, value, path);
  }
}

/** Checks the typed fields of an opaque object; other keys pass through, nulls are dropped. */
function checkKnownFields(
  fields: Record<string, Spec>,
  value: Record<string, unknown>,
  path: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner === null || inner === undefined) continue;
    const spec = fields[key];
    out[key] = spec ? checkValue(spec, inner, join(path, key)) : inner;
  }
  return out;
}

/** A price as the canonical decimal string (shopspring's form: no exponent, no trailing zeros). */
export function formatDecimal(units: bigint, scale: number): string {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    const whole = digits.slice(0, digits.length - scale);
    const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
    digits = fraction ? `${whole}.${fraction}` : whole;
  }
  return negative && digits !== '0' ? `-${digits}` : digits;
}

function checkPrice(value: unknown, path: string): string {
  if (typeof value !== 'number' && typeof value !== 'string')
    throw new Problem(path, 'must be a decimal number or string');
  if (typeof value === 'string' && value.length > MAX_PRICE_CHARS)
    throw new Problem(path, `must be at most ${MAX_PRICE_CHARS} characters`);
  let parsed;
  try {
    parsed = parseDecimal(value);
  } catch {
    throw new Problem(path, 'must be a decimal number');
  }
  if (parsed.units < 0n) throw new Problem(path, 'must be greater than or equal to zero');
  const text = formatDecimal(parsed.units, parsed.scale);
  if (text.length > MAX_PRICE_CHARS) throw new Problem(path, 'is out of range');
  return text;
}

function checkCost(raw: Record<string, unknown>, legacy: Record<string, unknown>): ChatCostPrices {
  const cost: Record<string, string> = {};
  for (const key of Object.keys(raw)) {
    if (!(PRICE_KEYS as readonly string[]).includes(key))
      throw new Problem(`cost.${key}`, `is not a known field (expected one of: ${PRICE_KEYS.join(', ')})`);
  }
  for (const key of PRICE_KEYS) {
    // `cost` wins over the legacy top-level key of the same name.
    const [value, path] =
      raw[key] !== undefined && raw[key] !== null ? [raw[key], `cost.${key}`] : [legacy[key], key];
    if (value === undefined || value === null || value === '') continue;
    cost[key] = checkPrice(value, path);
  }
  return cost;
}

function normalize(input: unknown): Record<string, unknown> {
  if (input === undefined || input === null) return {};
  if (!isObject(input)) throw new Problem('', 'must be an object');
  const known = new Set<string>([...Object.keys(CALL_FIELDS), 'cost', 'provider_options', ...PRICE_KEYS]);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new Problem(key, 'is not a known field');
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(CALL_FIELDS)) {
    const value = input[key];
    if (value !== undefined && value !== null) out[key] = checkValue(spec, value, key);
  }
  const rawCost = input.cost ?? {};
  if (!isObject(rawCost)) throw new Problem('cost', 'must be an object');
  const cost = checkCost(rawCost, input);
  if (Object.keys(cost).length > 0) out.cost = cost;

  const rawOptions = input.provider_options ?? {};
  if (!isObject(rawOptions)) throw new Problem('provider_options', 'must be an object');
  const options: Record<string, unknown> = {};
  for (const [provider, value] of Object.entries(rawOptions)) {
    const path = `provider_options.${provider}`;
    const fields = PROVIDER_OPTION_FIELDS[provider];
    if (!fields)
      throw new Problem(
        path,
        `is not a known provider (expected one of: ${PROVIDER_OPTION_KEYS.join(', ')})`,
      );
    if (value === null || value === undefined) continue;
    if (!isObject(value)) throw new Problem(path, 'must be an object');
    const checked = checkKnownFields(fields, value, path);
    if (Object.keys(checked).length > 0) options[provider] = checked;
  }
  if (Object.keys(options).length > 0) out.provider_options = options;
  return out;
}

/**
 * The stored options for a `model_config` from a request (absent or null = none). Throws
 * 400 "Invalid model config." naming the field (`model_config.…`).
 */
export function normalizeModelCallConfig(input: unknown): Record<string, unknown> {
  let out: Record<string, unknown>;
  try {
    out = normalize(input);
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    const field = e.path ? `model_config.${e.path}` : 'model_config';
    const detail = e.path ? `${e.path} ${e.problem}` : `model_config ${e.problem}`;
    throw new ApiError('validation', Messages.invalidModelConfig, detail, [{ field, detail: e.problem }]);
  }
  const size = Buffer.byteLength(JSON.stringify(out), 'utf8');
  if (size > MAX_OPTIONS_JSON_BYTES) {
    const detail = `model_config must be at most ${MAX_OPTIONS_JSON_BYTES} bytes of JSON, got ${size}`;
    throw new ApiError('validation', Messages.invalidModelConfig, detail, [
      { field: 'model_config', detail },
    ]);
  }
  return out;
}

/** The wire `model_config` of stored options; undefined when nothing is set (then omitted). */
export function toWireModelCallConfig(
  stored: Record<string, unknown> | null | undefined,
): ChatModelCallConfig | undefined {
  if (!isObject(stored)) return undefined;
  const out: ChatModelCallConfig = {};
  for (const key of Object.keys(CALL_FIELDS) as (keyof typeof CALL_FIELDS & keyof ChatModelCallConfig)[]) {
    const value = stored[key];
    if (typeof value === 'number' && Number.isFinite(value)) (out as Record<string, number>)[key] = value;
  }
  // Rows written before prices moved under `cost` keep them at the top level.
  const prices = pricesFromCallConfig(stored);
  if (prices && isObject(prices)) {
    const cost: Record<string, string> = {};
    for (const key of PRICE_KEYS) {
      const value = (prices as Record<string, unknown>)[key];
      if (value === undefined || value === null || value === '') continue;
      try {
        const parsed = parseDecimal(value as string | number);
        cost[key] = formatDecimal(parsed.units, parsed.scale);
      } catch {
        // An unparseable stored price is not a price: leave it out rather than fail the read.
      }
    }
    if (Object.keys(cost).length > 0) out.cost = cost;
  }
  const options = stored.provider_options;
  if (isObject(options)) {
    const kept = Object.fromEntries(Object.entries(options).filter(([, v]) => isObject(v)));
    if (Object.keys(kept).length > 0) out.provider_options = kept;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
