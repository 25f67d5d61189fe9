// Token usage in one shape for every provider. The AI SDK already maps each wire format
// (OpenAI `prompt_tokens` with `cached_tokens` inside, Anthropic `input_tokens` beside
// `cache_read_input_tokens` / `cache_creation_input_tokens`) to totals with details; here
// `inputTokens` is the *uncached* input, so input + cache read + cache write is the prompt
// size (what compaction measures) and each count is priced once. `outputTokens` includes
// reasoning; `reasoningTokens` is the part of it spent thinking.
import type { LanguageModelUsage } from 'ai';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  reasoningTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export const EMPTY_USAGE: Readonly<TokenUsage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  reasoningTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
});

const count = (value: number | undefined): number =>
  value !== undefined && Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0;

/** From the AI SDK's usage of one step. Missing counts become 0. */
export function normalizeUsage(usage: LanguageModelUsage | undefined): TokenUsage {
  if (!usage) return { ...EMPTY_USAGE };
  const cacheReadTokens = count(usage.inputTokenDetails?.cacheReadTokens ?? usage.cachedInputTokens);
  const cacheWriteTokens = count(usage.inputTokenDetails?.cacheWriteTokens);
  const inputTokens =
    usage.inputTokenDetails?.noCacheTokens !== undefined
      ? count(usage.inputTokenDetails.noCacheTokens)
      : Math.max(0, count(usage.inputTokens) - cacheReadTokens - cacheWriteTokens);
  const outputTokens = count(usage.outputTokens);
  const reasoningTokens = count(usage.outputTokenDetails?.reasoningTokens ?? usage.reasoningTokens);
  const totalTokens =
    count(usage.totalTokens) || inputTokens + cacheReadTokens + cacheWriteTokens + outputTokens;
  return { inputTokens, outputTokens, totalTokens, reasoningTokens, cacheReadTokens, cacheWriteTokens };
}

/** Sum of two usages (e.g. the steps of a turn). */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  };
}
