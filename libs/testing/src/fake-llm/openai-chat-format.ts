// OpenAI Chat Completions (`POST …/chat/completions`), as OpenAI and OpenAI-compatible
// servers (vLLM, Ollama, OpenRouter) send it: `data: {chunk}` lines whose
// `choices[0].delta` carries content, incremental `tool_calls` (id and name first, then
// argument fragments by `index`) and, like most compatible servers, `reasoning_content`;
// a finish chunk, then — when `stream_options.include_usage` — a chunk with empty `choices`
// and the usage (cached and reasoning token details), then `data: [DONE]`.
import {
  argumentChunks,
  asChunks,
  FakeHttpError,
  FakeLlmResponse,
  FakeUsage,
  finishReasonOf,
  RenderContext,
} from './script';
import { sseData } from './sse';
import { WireFormat } from './wire-format';

const CREATED = 1_700_000_000;

const responseId = (script: FakeLlmResponse, ctx: RenderContext) =>
  script.id ?? `chatcmpl-fake${ctx.callNumber}`;
const toolCallId = (ctx: RenderContext, index: number, id?: string) =>
  id ?? `call_fake${ctx.callNumber}_${index}`;

/** OpenAI counts cached prompt tokens inside `prompt_tokens`. */
export function openAiChatUsage(usage: FakeUsage) {
  const cacheRead = usage.cacheReadTokens ?? 0;
  const cacheWrite = usage.cacheWriteTokens ?? 0;
  const promptTokens = usage.inputTokens + cacheRead + cacheWrite;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: promptTokens + usage.outputTokens,
    prompt_tokens_details: {
      cached_tokens: cacheRead,
      audio_tokens: 0,
      // Not an OpenAI field; some compatible gateways report cache writes this way.
      ...(usage.cacheWriteTokens !== undefined ? { cache_write_tokens: cacheWrite } : {}),
    },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export const openAiChatFormat: WireFormat = {
  format: 'openai-chat',
  matches: (path) => path.endsWith('/chat/completions'),
  wantsStream: (body) => body.stream === true,
  wantsUsage: (body) =>
    (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true,

  streamEvents(script, ctx) {
    const id = responseId(script, ctx);
    const model = script.model ?? ctx.requestModel;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      sseData({
        id,
        object: 'chat.completion.chunk',
        created: CREATED,
        model,
        system_fingerprint: 'fp_fake',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      });
    const events = [chunk({ role: 'assistant', content: '', refusal: null })];
    for (const piece of asChunks(script.reasoning)) events.push(chunk({ reasoning_content: piece }));
    for (const piece of asChunks(script.text)) events.push(chunk({ content: piece }));
    (script.toolCalls ?? []).forEach((call, index) => {
      const { chunks } = argumentChunks(call);
      events.push(
        chunk({
          tool_calls: [
            {
              index,
              id: toolCallId(ctx, index, call.id),
              type: 'function',
              function: { name: call.name, arguments: '' },
            },
          ],
        }),
      );
      for (const piece of chunks)
        events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    });
    events.push(chunk({}, finishReasonOf(script)));
    if (ctx.includeUsage && script.usage) {
      events.push(
        sseData({
          id,
          object: 'chat.completion.chunk',
          created: CREATED,
          model,
          system_fingerprint: 'fp_fake',
          choices: [],
          usage: openAiChatUsage(script.usage),
        }),
      );
    }
    events.push(sseData('[DONE]'));
    return events;
  },

  json(script, ctx) {
    const text = asChunks(script.text).join('');
    const reasoning = asChunks(script.reasoning).join('');
    const toolCalls = (script.toolCalls ?? []).map((call, index) => ({
      id: toolCallId(ctx, index, call.id),
      type: 'function',
      function: { name: call.name, arguments: argumentChunks(call).full },
    }));
    return {
      id: responseId(script, ctx),
      object: 'chat.completion',
      created: CREATED,
      model: script.model ?? ctx.requestModel,
      system_fingerprint: 'fp_fake',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text.length > 0 ? text : null,
            refusal: null,
            ...(reasoning.length > 0 ? { reasoning_content: reasoning } : {}),
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finishReasonOf(script),
        },
      ],
      ...(script.usage ? { usage: openAiChatUsage(script.usage) } : {}),
    };
  },

  errorBody: (error: FakeHttpError) => openAiErrorBody(error),
};

/** OpenAI's error envelope, shared by Chat Completions and Responses. */
export function openAiErrorBody(error: FakeHttpError): unknown {
  if (error.body !== undefined) return error.body;
  const defaults: Record<number, [string, string]> = {
    400: ['invalid_request_error', 'Invalid request.'],
    401: ['invalid_request_error', 'Incorrect API key provided.'],
    403: ['invalid_request_error', 'You are not allowed to access this model.'],
    404: ['invalid_request_error', 'The model does not exist.'],
    408: ['timeout', 'Request timed out.'],
    429: ['rate_limit_exceeded', 'Rate limit reached for requests.'],
    500: ['server_error', 'The server had an error while processing your request.'],
    503: ['server_error', 'Service unavailable.'],
  };
  const [type, message] = defaults[error.status] ?? ['server_error', `Fake error ${error.status}.`];
  return {
    error: {
      message: error.message ?? message,
      type: error.type ?? type,
      param: null,
      code: error.code ?? null,
    },
  };
}
