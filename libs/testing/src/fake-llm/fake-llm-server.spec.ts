// The fake LLM server's wire output, read with plain fetch: field names and event order as
// the providers send them, request recording, errors, delays, stalls and drops. (The AI SDK
// reading these streams is covered in libs/llm's stream-model spec.)
import { FakeLlmServer } from './fake-llm-server';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
afterEach(() => server.reset());

const post = (path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });

interface SseEvent {
  event?: string;
  data: string;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))!.slice(6);
      return event ? { event, data } : { data };
    });
}

const json = (events: SseEvent[]) => events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));

describe('OpenAI Chat Completions', () => {
  it('streams content and incremental tool_calls deltas, then usage when include_usage, then [DONE]', async () => {
    server.enqueue({
      id: 'chatcmpl-1',
      text: ['Hi', '!'],
      toolCalls: [{ id: 'call_a', name: 'lookup', args: { q: 'x' }, argChunks: 2 }],
      usage: { inputTokens: 10, cacheReadTokens: 90, outputTokens: 7, reasoningTokens: 3 },
    });
    const res = await post('/v1/chat/completions', {
      model: 'gpt-4o',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(await res.text());
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = json(events);
    expect(chunks.every((c) => c.id === 'chatcmpl-1' && c.object === 'chat.completion.chunk')).toBe(true);
    const deltas = chunks.flatMap((c) => c.choices.map((choice: { delta: unknown }) => choice.delta));
    expect(deltas.filter((d) => d.content).map((d) => d.content)).toEqual(['Hi', '!']);
    const toolDeltas = deltas.filter((d) => d.tool_calls).map((d) => d.tool_calls[0]);
    expect(toolDeltas[0]).toEqual({
      index: 0,
      id: 'call_a',
      type: 'function',
      function: { name: 'lookup', arguments: '' },
    });
    expect(
      toolDeltas
        .slice(1)
        .map((d) => d.function.arguments)
        .join(''),
    ).toBe('{"q":"x"}');
    expect(toolDeltas.length).toBe(3);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish.choices[0].finish_reason).toBe('tool_calls');
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toMatchObject({
      prompt_tokens: 100,
      completion_tokens: 7,
      total_tokens: 107,
      prompt_tokens_details: { cached_tokens: 90 },
      completion_tokens_details: { reasoning_tokens: 3 },
    });
  });

  it('sends no usage chunk unless the client asks for it', async () => {
    server.enqueue({ text: 'x', usage: { inputTokens: 1, outputTokens: 1 } });
    const chunks = json(
      parseSse(await (await post('/v1/chat/completions', { model: 'm', stream: true })).text()),
    );
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('answers a non-streaming request with one chat.completion object', async () => {
    server.enqueue({ text: ['a', 'b'], usage: { inputTokens: 2, outputTokens: 3 } });
    const body = await (await post('/v1/chat/completions', { model: 'gpt-4o-mini' })).json();
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ message: { role: 'assistant', content: 'ab' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 2, completion_tokens: 3 },
    });
  });
});

describe('OpenAI Responses', () => {
  it('names every event after its type, numbers them, and carries the id and usage', async () => {
    server.enqueue({
      id: 'resp_1',
      reasoning: 'think',
      text: ['A', 'B'],
      toolCalls: [{ id: 'call_1', name: 'f', args: '{"a":1}' }],
      usage: { inputTokens: 5, cacheReadTokens: 20, outputTokens: 8, reasoningTokens: 4 },
    });
    const events = parseSse(await (await post('/v1/responses', { model: 'o4-mini', stream: true })).text());
    const payloads = json(events);
    events.forEach((e, i) => expect(e.event).toBe(payloads[i].type));
    expect(payloads.map((p) => p.sequence_number)).toEqual(payloads.map((_, i) => i));
    expect(payloads[0]).toMatchObject({ type: 'response.created', response: { id: 'resp_1' } });
    const types = payloads.map((p) => p.type);
    expect(types.indexOf('response.reasoning_summary_text.delta')).toBeLessThan(
      types.indexOf('response.output_text.delta'),
    );
    expect(payloads.filter((p) => p.type === 'response.output_text.delta').map((p) => p.delta)).toEqual([
      'A',
      'B',
    ]);
    const args = payloads
      .filter((p) => p.type === 'response.function_call_arguments.delta')
      .map((p) => p.delta);
    expect(args.join('')).toBe('{"a":1}');
    const added = payloads.find(
      (p) => p.type === 'response.output_item.added' && p.item.type === 'function_call',
    );
    expect(added.item).toMatchObject({ call_id: 'call_1', name: 'f', arguments: '' });
    expect(payloads.at(-1)).toMatchObject({
      type: 'response.completed',
      response: {
        id: 'resp_1',
        status: 'completed',
        usage: {
          input_tokens: 25,
          input_tokens_details: { cached_tokens: 20 },
          output_tokens: 8,
          output_tokens_details: { reasoning_tokens: 4 },
        },
      },
    });
  });

  it('ends a length-limited response with response.incomplete', async () => {
    server.enqueue({ text: 'cut', finishReason: 'length' });
    const payloads = json(parseSse(await (await post('/v1/responses', { model: 'm', stream: true })).text()));
    expect(payloads.at(-1)).toMatchObject({
      type: 'response.incomplete',
      response: { incomplete_details: { reason: 'max_output_tokens' } },
    });
  });
});

describe('Anthropic Messages', () => {
  it('streams message_start usage, thinking, text and tool_use blocks, then message_delta and message_stop', async () => {
    server.enqueue({
      id: 'msg_1',
      reasoning: 'hmm',
      text: 'Hi',
      toolCalls: [{ id: 'toolu_1', name: 'f', args: { a: 1 } }],
      usage: { inputTokens: 3, cacheReadTokens: 40, cacheWriteTokens: 12, outputTokens: 9 },
    });
    const events = parseSse(await (await post('/v1/messages', { model: 'claude', stream: true })).text());
    const payloads = json(events);
    events.forEach((e, i) => expect(e.event).toBe(payloads[i].type));
    expect(payloads[0]).toMatchObject({
      type: 'message_start',
      message: {
        id: 'msg_1',
        usage: { input_tokens: 3, cache_read_input_tokens: 40, cache_creation_input_tokens: 12 },
      },
    });
    const starts = payloads.filter((p) => p.type === 'content_block_start').map((p) => p.content_block.type);
    expect(starts).toEqual(['thinking', 'text', 'tool_use']);
    const deltaTypes = payloads.filter((p) => p.type === 'content_block_delta').map((p) => p.delta.type);
    expect(deltaTypes).toEqual([
      'thinking_delta',
      'signature_delta',
      'text_delta',
      'input_json_delta',
      'input_json_delta',
    ]);
    expect(payloads.filter((p) => p.type === 'content_block_stop').map((p) => p.index)).toEqual([0, 1, 2]);
    expect(payloads.at(-2)).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 9 },
    });
    expect(payloads.at(-1)).toEqual({ type: 'message_stop' });
  });

  it('answers a non-streaming request with one message object', async () => {
    server.enqueue({ text: 'Title', usage: { inputTokens: 4, outputTokens: 2 } });
    const body = await (await post('/v1/messages', { model: 'claude-haiku' })).json();
    expect(body).toMatchObject({
      type: 'message',
      content: [{ type: 'text', text: 'Title' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 4, output_tokens: 2 },
    });
  });
});

describe('requests and errors', () => {
  it('records method, path, query, headers including auth, and the parsed JSON body', async () => {
    server.enqueue({ text: 'x' });
    await (
      await post('/v1/messages?beta=true', { model: 'claude', stream: true }, { 'x-api-key': 'sk-ant' })
    ).text();
    expect(server.requests).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: '/v1/messages',
        query: { beta: 'true' },
        format: 'anthropic',
        body: { model: 'claude', stream: true },
        headers: expect.objectContaining({ 'x-api-key': 'sk-ant' }),
      }),
    ]);
  });

  it('answers a scripted 429 with retry-after and the OpenAI error envelope', async () => {
    server.enqueue({ error: { status: 429, retryAfterSeconds: 3 } });
    const res = await post('/v1/chat/completions', { model: 'm', stream: true });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({
      error: { message: expect.any(String), type: 'rate_limit_exceeded', param: null, code: null },
    });
  });

  it('answers a scripted 529 in the Anthropic error shape', async () => {
    server.enqueue({ error: { status: 529 } });
    const res = await post('/v1/messages', { model: 'claude', stream: true });
    expect(res.status).toBe(529);
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
  });

  it('answers an unscripted request with a 400 that names it', async () => {
    const res = await post('/v1/responses', { model: 'm', stream: true });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('no scripted response left for POST /v1/responses');
  });

  it('uses the fallback script when the queue is empty', async () => {
    const fallbackServer = await FakeLlmServer.start({ fallback: { text: 'default' } });
    try {
      const res = await fetch(`${fallbackServer.url}/v1/messages`, {
        method: 'POST',
        body: JSON.stringify({ model: 'claude' }),
      });
      expect(((await res.json()) as { content: unknown }).content).toEqual([
        { type: 'text', text: 'default' },
      ]);
    } finally {
      await fallbackServer.close();
    }
  });
});

describe('timing and failures', () => {
  it('holds the first event back for delayMs', async () => {
    server.enqueue({ text: 'late', delayMs: 250 });
    const started = performance.now();
    const res = await post('/v1/chat/completions', { model: 'm', stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    await reader.cancel();
  });

  it('stalls after stallAfterEvents, keeping the connection open until the client leaves', async () => {
    server.enqueue({ text: ['a', 'b', 'c'], stallAfterEvents: 2 });
    const abort = new AbortController();
    const res = await post('/v1/chat/completions', { model: 'm', stream: true }, {}, abort.signal);
    const reader = res.body!.getReader();
    let received = '';
    while (parseSse(received).length < 2) received += new TextDecoder().decode((await reader.read()).value);
    const next = reader.read();
    const outcome = await Promise.race([
      next.then(() => 'data'),
      new Promise((r) => setTimeout(() => r('silent'), 300)),
    ]);
    expect(outcome).toBe('silent');
    expect(parseSse(received)).toHaveLength(2);
    abort.abort();
    await expect(next).rejects.toThrow();
  });

  it('drops the connection after dropAfterEvents, so the client sees a broken stream', async () => {
    server.enqueue({ text: ['a', 'b', 'c'], dropAfterEvents: 2 });
    const res = await post('/v1/chat/completions', { model: 'm', stream: true });
    await expect(res.text()).rejects.toThrow();
  });

  it('close() ends streams that are still stalled', async () => {
    const own = await FakeLlmServer.start();
    own.enqueue({ text: 'x', stallAfterEvents: 0 });
    const res = await fetch(`${own.url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude', stream: true }),
    });
    const body = res.text();
    await own.close();
    await expect(body).rejects.toThrow();
  });

  it('waitForRequests resolves once the requests have arrived', async () => {
    server.enqueue({ text: 'x' }, { text: 'y' });
    const waiting = server.waitForRequests(2);
    await (await post('/v1/messages', { model: 'c' })).text();
    await (await post('/v1/messages', { model: 'c' })).text();
    await expect(waiting).resolves.toBeUndefined();
  });
});
