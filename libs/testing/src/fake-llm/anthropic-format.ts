// Anthropic Messages (`POST …/v1/messages`): named SSE events. `message_start` carries the
// message id and the input usage (uncached input, cache reads, cache creation); each
// content block (thinking with `thinking_delta` + `signature_delta`, text with
// `text_delta`, tool_use with `input_json_delta` fragments) is opened by
// `content_block_start` and closed by `content_block_stop`; `message_delta` brings the stop
// reason and the output token count; `message_stop` ends the stream. Non-streaming calls
// get the same content as one message object.
import {
  argumentChunks,
  asChunks,
  FakeHttpError,
  FakeLlmResponse,
  finishReasonOf,
  RenderContext,
} from './script';
import { sseEvent } from './sse';
import { WireFormat } from './wire-format';

const STOP_REASONS = { stop: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens' } as const;
const FAKE_SIGNATURE = 'fake-thinking-signature';

const messageId = (script: FakeLlmResponse, ctx: RenderContext) => script.id ?? `msg_fake${ctx.callNumber}`;
const toolUseId = (ctx: RenderContext, index: number, id?: string) =>
  id ?? `toolu_fake${ctx.callNumber}_${index}`;

function inputUsage(script: FakeLlmResponse) {
  const usage = script.usage ?? { inputTokens: 0, outputTokens: 0 };
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens ?? 0,
    cache_read_input_tokens: usage.cacheReadTokens ?? 0,
  };
}

const toolInput = (args: unknown): unknown => (typeof args === 'string' ? JSON.parse(args) : (args ?? {}));

export const anthropicFormat: WireFormat = {
  format: 'anthropic',
  matches: (path) => path.endsWith('/messages'),
  wantsStream: (body) => body.stream === true,
  wantsUsage: () => true,

  streamEvents(script, ctx) {
    const event = (payload: Record<string, unknown>) => sseEvent(payload.type as string, payload);
    const events = [
      event({
        type: 'message_start',
        message: {
          id: messageId(script, ctx),
          type: 'message',
          role: 'assistant',
          model: script.model ?? ctx.requestModel,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...inputUsage(script), output_tokens: 1 },
        },
      }),
      event({ type: 'ping' }),
    ];
    let index = 0;
    const block = (start: Record<string, unknown>, deltas: Record<string, unknown>[]) => {
      events.push(event({ type: 'content_block_start', index, content_block: start }));
      for (const delta of deltas) events.push(event({ type: 'content_block_delta', index, delta }));
      events.push(event({ type: 'content_block_stop', index }));
      index++;
    };
    const reasoning = asChunks(script.reasoning);
    if (reasoning.length > 0) {
      block({ type: 'thinking', thinking: '', signature: '' }, [
        ...reasoning.map((thinking) => ({ type: 'thinking_delta', thinking })),
        { type: 'signature_delta', signature: script.reasoningSignature ?? FAKE_SIGNATURE },
      ]);
    }
    const text = asChunks(script.text);
    if (text.length > 0) {
      block(
        { type: 'text', text: '' },
        text.map((piece) => ({ type: 'text_delta', text: piece })),
      );
    }
    (script.toolCalls ?? []).forEach((call, i) => {
      block(
        { type: 'tool_use', id: toolUseId(ctx, i, call.id), name: call.name, input: {} },
        argumentChunks(call).chunks.map((partial_json) => ({ type: 'input_json_delta', partial_json })),
      );
    });
    events.push(
      event({
        type: 'message_delta',
        delta: { stop_reason: STOP_REASONS[finishReasonOf(script)], stop_sequence: null },
        usage: { output_tokens: script.usage?.outputTokens ?? 0 },
      }),
      event({ type: 'message_stop' }),
    );
    return events;
  },

  json(script, ctx) {
    const content: Record<string, unknown>[] = [];
    const reasoning = asChunks(script.reasoning).join('');
    if (reasoning.length > 0) {
      content.push({
        type: 'thinking',
        thinking: reasoning,
        signature: script.reasoningSignature ?? FAKE_SIGNATURE,
      });
    }
    const text = asChunks(script.text).join('');
    if (text.length > 0) content.push({ type: 'text', text });
    (script.toolCalls ?? []).forEach((call, i) =>
      content.push({
        type: 'tool_use',
        id: toolUseId(ctx, i, call.id),
        name: call.name,
        input: toolInput(call.args),
      }),
    );
    return {
      id: messageId(script, ctx),
      type: 'message',
      role: 'assistant',
      model: script.model ?? ctx.requestModel,
      content,
      stop_reason: STOP_REASONS[finishReasonOf(script)],
      stop_sequence: null,
      usage: { ...inputUsage(script), output_tokens: script.usage?.outputTokens ?? 0 },
    };
  },

  errorBody(error: FakeHttpError) {
    if (error.body !== undefined) return error.body;
    const defaults: Record<number, [string, string]> = {
      400: ['invalid_request_error', 'Invalid request.'],
      401: ['authentication_error', 'invalid x-api-key'],
      403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
      404: ['not_found_error', 'The requested resource could not be found.'],
      413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
      429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
      500: ['api_error', 'An unexpected error has occurred internal to the API.'],
      529: ['overloaded_error', 'Overloaded'],
    };
    const [type, message] = defaults[error.status] ?? ['api_error', `Fake error ${error.status}.`];
    return { type: 'error', error: { type: error.type ?? type, message: error.message ?? message } };
  },
};
