// OpenAI Responses (`POST …/responses`): typed SSE events (`event:` + `data:` with the
// same `type`, and a `sequence_number`). A response is a list of output items — reasoning
// (summary text deltas), a message (output text deltas) and function calls (argument
// deltas) — each opened by `response.output_item.added` and closed by
// `response.output_item.done`; `response.created` carries the response id and
// `response.completed` (or `response.incomplete` on a length stop) the usage with cached
// and reasoning token details.
import { openAiErrorBody } from './openai-chat-format';
import {
  argumentChunks,
  asChunks,
  FakeLlmResponse,
  FakeUsage,
  finishReasonOf,
  RenderContext,
} from './script';
import { sseEvent } from './sse';
import { WireFormat } from './wire-format';

const CREATED = 1_700_000_000;

/** The Responses API counts cached input inside `input_tokens`. */
function responsesUsage(usage: FakeUsage) {
  const inputTokens = usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: usage.cacheReadTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: inputTokens + usage.outputTokens,
  };
}

interface Item {
  id: string;
  done: Record<string, unknown>;
  /** Events between `output_item.added` and `output_item.done` (without sequence numbers). */
  body: Record<string, unknown>[];
  added: Record<string, unknown>;
}

/** The output items of a script in order: reasoning, message, function calls. */
function outputItems(script: FakeLlmResponse, ctx: RenderContext): Item[] {
  const n = ctx.callNumber;
  const items: Item[] = [];
  const reasoning = asChunks(script.reasoning);
  if (reasoning.length > 0) {
    const id = `rs_fake${n}`;
    const text = reasoning.join('');
    const part = (t: string) => ({ type: 'summary_text', text: t });
    items.push({
      id,
      added: { id, type: 'reasoning', summary: [] },
      body: [
        { type: 'response.reasoning_summary_part.added', item_id: id, summary_index: 0, part: part('') },
        ...reasoning.map((delta) => ({
          type: 'response.reasoning_summary_text.delta',
          item_id: id,
          summary_index: 0,
          delta,
        })),
        { type: 'response.reasoning_summary_text.done', item_id: id, summary_index: 0, text },
        { type: 'response.reasoning_summary_part.done', item_id: id, summary_index: 0, part: part(text) },
      ],
      done: { id, type: 'reasoning', summary: [part(text)] },
    });
  }
  const text = asChunks(script.text);
  if (text.length > 0) {
    const id = `msg_fake${n}`;
    const full = text.join('');
    const content = (t: string) => ({ type: 'output_text', text: t, annotations: [], logprobs: [] });
    items.push({
      id,
      added: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
      body: [
        { type: 'response.content_part.added', item_id: id, content_index: 0, part: content('') },
        ...text.map((delta) => ({
          type: 'response.output_text.delta',
          item_id: id,
          content_index: 0,
          delta,
          logprobs: [],
        })),
        { type: 'response.output_text.done', item_id: id, content_index: 0, text: full, logprobs: [] },
        { type: 'response.content_part.done', item_id: id, content_index: 0, part: content(full) },
      ],
      done: { id, type: 'message', status: 'completed', role: 'assistant', content: [content(full)] },
    });
  }
  (script.toolCalls ?? []).forEach((call, index) => {
    const id = `fc_fake${n}_${index}`;
    const callId = call.id ?? `call_fake${n}_${index}`;
    const { full, chunks } = argumentChunks(call);
    const item = (args: string, status: string) => ({
      id,
      type: 'function_call',
      status,
      arguments: args,
      call_id: callId,
      name: call.name,
    });
    items.push({
      id,
      added: item('', 'in_progress'),
      body: [
        ...chunks.map((delta) => ({ type: 'response.function_call_arguments.delta', item_id: id, delta })),
        { type: 'response.function_call_arguments.done', item_id: id, arguments: full },
      ],
      done: item(full, 'completed'),
    });
  });
  return items;
}

function responseObject(script: FakeLlmResponse, ctx: RenderContext, status: string, output: unknown[]) {
  const length = finishReasonOf(script) === 'length';
  return {
    id: script.id ?? `resp_fake${ctx.callNumber}`,
    object: 'response',
    created_at: CREATED,
    status,
    model: script.model ?? ctx.requestModel,
    output,
    incomplete_details: status !== 'in_progress' && length ? { reason: 'max_output_tokens' } : null,
    error: null,
    service_tier: 'default',
    usage: status !== 'in_progress' && script.usage ? responsesUsage(script.usage) : null,
  };
}

export const openAiResponsesFormat: WireFormat = {
  format: 'openai-responses',
  matches: (path) => path.endsWith('/responses'),
  wantsStream: (body) => body.stream === true,
  wantsUsage: () => true,

  streamEvents(script, ctx) {
    let sequence = 0;
    const event = (payload: Record<string, unknown>) =>
      sseEvent(payload.type as string, { ...payload, sequence_number: sequence++ });
    const items = outputItems(script, ctx);
    const events = [
      event({ type: 'response.created', response: responseObject(script, ctx, 'in_progress', []) }),
      event({ type: 'response.in_progress', response: responseObject(script, ctx, 'in_progress', []) }),
    ];
    items.forEach((item, outputIndex) => {
      events.push(event({ type: 'response.output_item.added', output_index: outputIndex, item: item.added }));
      for (const body of item.body) events.push(event({ ...body, output_index: outputIndex }));
      events.push(event({ type: 'response.output_item.done', output_index: outputIndex, item: item.done }));
    });
    const incomplete = finishReasonOf(script) === 'length';
    const final = responseObject(
      script,
      ctx,
      incomplete ? 'incomplete' : 'completed',
      items.map((item) => item.done),
    );
    events.push(event({ type: incomplete ? 'response.incomplete' : 'response.completed', response: final }));
    return events;
  },

  json(script, ctx) {
    const incomplete = finishReasonOf(script) === 'length';
    return responseObject(
      script,
      ctx,
      incomplete ? 'incomplete' : 'completed',
      outputItems(script, ctx).map((item) => item.done),
    );
  },

  errorBody: openAiErrorBody,
};
