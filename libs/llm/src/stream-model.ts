// One streamed model call (one step of a turn) as an async iterable of LlmStreamParts.
// The AI SDK retries nothing here (maxRetries 0): the worker owns retries so it can
// publish `retry` events and classify with the reference's rules. Failures surface as a
// thrown LlmCallError carrying the classification; a call that sends nothing within the
// first-chunk timeout fails as a retryable `startup_timeout`; the caller's own abort
// (interrupt, shutdown) surfaces as LlmAbortedError after the parts already yielded.
import { ModelMessage, streamText, TextStreamPart, ToolSet } from 'ai';
import type { ModelCallSettings } from './call-options';
import { classifyLlmError } from './error-classification';
import { FirstChunkTimeoutError, LlmAbortedError, LlmCallError } from './errors';
import type { LlmModel } from './provider-registry';
import type { LlmFinishReason, LlmStreamPart } from './stream-parts';
import { LlmToolDefinition, toToolSet } from './tool-definitions';
import { normalizeUsage, TokenUsage } from './usage';

/** The reference's per-attempt first-chunk timeout. */
export const DEFAULT_FIRST_CHUNK_TIMEOUT_MS = 60_000;

export interface StreamModelRequest {
  model: LlmModel;
  /** Provider type, named in error messages. */
  provider: string;
  messages: ModelMessage[];
  system?: string;
  tools?: readonly LlmToolDefinition[];
  settings?: ModelCallSettings;
  abortSignal?: AbortSignal;
  /** 0 disables it. */
  firstChunkTimeoutMs?: number;
  headers?: Record<string, string>;
}

/** Parts streamText emits before the provider has said anything. */
const NOT_MODEL_OUTPUT = new Set(['start', 'start-step', 'raw']);

export async function* streamModel(
  request: StreamModelRequest,
): AsyncGenerator<LlmStreamPart, void, undefined> {
  const controller = new AbortController();
  const caller = request.abortSignal;
  const onCallerAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) throw new LlmAbortedError({ cause: caller.reason });
  caller?.addEventListener('abort', onCallerAbort, { once: true });

  const timeoutMs = request.firstChunkTimeoutMs ?? DEFAULT_FIRST_CHUNK_TIMEOUT_MS;
  let firstChunkTimedOut = false;
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          firstChunkTimedOut = true;
          controller.abort(new FirstChunkTimeoutError(timeoutMs));
        }, timeoutMs)
      : undefined;

  const tools = toToolSet(request.tools);
  const result = streamText({
    model: request.model,
    messages: request.messages,
    ...(request.system ? { system: request.system } : {}),
    ...(tools ? { tools } : {}),
    ...request.settings,
    ...(request.headers ? { headers: request.headers } : {}),
    maxRetries: 0,
    abortSignal: controller.signal,
    // Errors arrive as stream parts and are rethrown below; keep the SDK from logging them.
    onError: () => undefined,
  });

  let failure: unknown;
  let finish: Extract<LlmStreamPart, { type: 'finish' }> | undefined;
  let completed = false;
  const signatures = new Map<string, string>();
  try {
    for await (const part of result.fullStream) {
      if (timer && !NOT_MODEL_OUTPUT.has(part.type)) clearTimeout(timer);
      if (part.type === 'error') {
        failure ??= part.error;
        continue;
      }
      if (part.type === 'finish-step') {
        finish = finishPart(part.finishReason, normalizeUsage(part.usage), part.response);
        continue;
      }
      const signature = anthropicSignature(part);
      if (signature && 'id' in part) signatures.set(part.id, signature);
      const mapped = mapPart(part, signatures);
      if (mapped) yield mapped;
    }
    completed = true;
  } catch (error) {
    failure ??= error;
  } finally {
    clearTimeout(timer);
    caller?.removeEventListener('abort', onCallerAbort);
    // The consumer stopped early (or we failed): stop the HTTP stream too.
    if (!completed) controller.abort();
  }

  if (firstChunkTimedOut) {
    const cause = new FirstChunkTimeoutError(timeoutMs);
    throw new LlmCallError(classifyLlmError(cause, { provider: request.provider }), { cause });
  }
  // An abort that lands after the model finished (while the caller handled the last part)
  // does not throw the complete answer away: its finish, with the usage, still comes.
  if (caller?.aborted && !(completed && finish && failure === undefined))
    throw new LlmAbortedError({ cause: caller.reason });
  if (failure !== undefined) {
    throw new LlmCallError(classifyLlmError(failure, { provider: request.provider }), { cause: failure });
  }
  if (!finish) {
    const cause = new Error('The model stream ended without a finish event.');
    throw new LlmCallError(classifyLlmError(cause, { provider: request.provider }), { cause });
  }
  yield finish;
}

function finishPart(
  finishReason: LlmFinishReason,
  usage: TokenUsage,
  response: { id?: string; modelId?: string },
): Extract<LlmStreamPart, { type: 'finish' }> {
  return {
    type: 'finish',
    finishReason,
    usage,
    ...(response.id ? { providerResponseId: response.id } : {}),
    ...(response.modelId ? { modelId: response.modelId } : {}),
  };
}

function mapPart(part: TextStreamPart<ToolSet>, signatures: Map<string, string>): LlmStreamPart | undefined {
  switch (part.type) {
    case 'text-delta':
      return part.text ? { type: 'text-delta', id: part.id, text: part.text } : undefined;
    case 'reasoning-delta':
      // Anthropic's signature arrives as an empty reasoning delta; it is reported at the end.
      return part.text ? { type: 'reasoning-delta', id: part.id, text: part.text } : undefined;
    case 'reasoning-end': {
      const signature = signatures.get(part.id);
      return { type: 'reasoning-end', id: part.id, ...(signature ? { signature } : {}) };
    }
    case 'tool-input-start':
      return { type: 'tool-call-start', toolCallId: part.id, toolName: part.toolName };
    case 'tool-input-delta':
      return part.delta ? { type: 'tool-call-delta', toolCallId: part.id, argsDelta: part.delta } : undefined;
    case 'tool-call':
      return {
        type: 'tool-call',
        toolCallId: part.toolCallId,
        toolName: part.toolName,
        args: typeof part.input === 'string' ? part.input : JSON.stringify(part.input ?? {}),
        ...(part.providerExecuted ? { providerExecuted: true } : {}),
      };
    default:
      return undefined;
  }
}

function anthropicSignature(part: TextStreamPart<ToolSet>): string | undefined {
  if (part.type !== 'reasoning-delta' && part.type !== 'reasoning-end' && part.type !== 'reasoning-start') {
    return undefined;
  }
  const signature = part.providerMetadata?.anthropic?.signature;
  return typeof signature === 'string' && signature ? signature : undefined;
}
