// A non-streaming model call for short answers (chat titles): the provider's plain JSON
// response, with usage and response id so the call can be priced like any other. The
// caller's deadline (`timeoutMs`, 30 s for titles in the reference) is not retryable.
import { generateText, ModelMessage } from 'ai';
import type { ModelCallSettings } from './call-options';
import { classifyLlmError } from './error-classification';
import { LlmCallError } from './errors';
import type { LlmModel } from './provider-registry';
import type { LlmFinishReason } from './stream-parts';
import { normalizeUsage, TokenUsage } from './usage';

export interface GenerateModelTextRequest {
  model: LlmModel;
  provider: string;
  messages: ModelMessage[];
  system?: string;
  settings?: ModelCallSettings;
  abortSignal?: AbortSignal;
  timeoutMs?: number;
}

export interface GeneratedModelText {
  text: string;
  usage: TokenUsage;
  finishReason: LlmFinishReason;
  providerResponseId?: string;
}

export async function generateModelText(request: GenerateModelTextRequest): Promise<GeneratedModelText> {
  const signals = [
    ...(request.abortSignal ? [request.abortSignal] : []),
    ...(request.timeoutMs ? [AbortSignal.timeout(request.timeoutMs)] : []),
  ];
  try {
    const result = await generateText({
      model: request.model,
      messages: request.messages,
      ...(request.system ? { system: request.system } : {}),
      ...request.settings,
      maxRetries: 0,
      ...(signals.length > 0 ? { abortSignal: AbortSignal.any(signals) } : {}),
    });
    return {
      text: result.text,
      usage: normalizeUsage(result.usage),
      finishReason: result.finishReason,
      ...(result.response.id ? { providerResponseId: result.response.id } : {}),
    };
  } catch (error) {
    throw new LlmCallError(classifyLlmError(error, { provider: request.provider }), { cause: error });
  }
}
