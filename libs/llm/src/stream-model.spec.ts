// streamModel against fake providers over real HTTP: the real AI SDK parsers read the real
// wire formats (OpenAI Responses for `openai` and Azure, Chat Completions for
// `openai-compat` and OpenRouter, Anthropic Messages), so these tests fail when a parser
// and our mapping disagree.
import { FakeLlmResponse, FakeLlmServer } from '@agentmesh/testing';
import type { ChatProviderType } from '@agentmesh/contracts';
import type { ModelMessage } from 'ai';
import { callSettingsFromConfig } from './call-options';
import { FirstChunkTimeoutError, LlmAbortedError, LlmCallError } from './errors';
import { createLanguageModel } from './provider-registry';
import { StepAccumulator } from './step-accumulator';
import { streamModel, StreamModelRequest } from './stream-model';
import type { LlmStreamPart } from './stream-parts';

const HELLO: ModelMessage[] = [{ role: 'user', content: 'Hello' }];
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a city',
  inputSchema: {
    type: 'object' as const,
    properties: { city: { type: 'string' as const } },
    required: ['city'],
  },
};

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
afterEach(() => {
  expect(server.pending).toBe(0);
  server.reset();
});

/** Base URL as an admin would configure it for each provider type. */
function baseUrlFor(provider: ChatProviderType): string {
  if (provider === 'anthropic') return server.url; // Anthropic's API root; /v1 is added
  if (provider === 'azure') return `${server.url}/openai/v1`;
  return server.baseUrl;
}

function request(
  provider: ChatProviderType,
  overrides: Partial<StreamModelRequest> = {},
): StreamModelRequest {
  return {
    model: createLanguageModel(
      { provider, apiKey: 'sk-test', baseUrl: baseUrlFor(provider) },
      provider === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o',
    ),
    provider,
    messages: HELLO,
    settings: callSettingsFromConfig(provider, {}),
    ...overrides,
  };
}

async function collect(stream: AsyncIterable<LlmStreamPart>): Promise<LlmStreamPart[]> {
  const parts: LlmStreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** Runs the stream and returns the error it ended with. */
async function failure(stream: AsyncIterable<LlmStreamPart>): Promise<unknown> {
  try {
    await collect(stream);
  } catch (error) {
    return error;
  }
  throw new Error('expected the stream to fail');
}

const FULL_SCRIPT: FakeLlmResponse = {
  id: 'resp-id-1',
  reasoning: ['Let me ', 'think.'],
  text: ['Hel', 'lo ', 'there'],
  toolCalls: [{ id: 'call_1', name: 'get_weather', args: { city: 'Paris' }, argChunks: 3 }],
  usage: {
    inputTokens: 20,
    cacheReadTokens: 100,
    cacheWriteTokens: 0,
    outputTokens: 30,
    reasoningTokens: 12,
  },
};

describe.each<ChatProviderType>(['openai', 'openai-compat', 'anthropic', 'azure', 'openrouter'])(
  'streamModel with provider %s',
  (provider) => {
    it('streams text deltas in order and finishes with the provider response id', async () => {
      server.enqueue({ id: 'resp-abc', text: ['Hel', 'lo'], usage: { inputTokens: 5, outputTokens: 2 } });
      const parts = await collect(streamModel(request(provider)));
      expect(parts.filter((p) => p.type === 'text-delta').map((p) => (p as { text: string }).text)).toEqual([
        'Hel',
        'lo',
      ]);
      const finish = parts.at(-1);
      expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop', providerResponseId: 'resp-abc' });
    });

    it('streams tool-call arguments incrementally and reports the complete call', async () => {
      server.enqueue(FULL_SCRIPT);
      const parts = await collect(streamModel(request(provider, { tools: [WEATHER_TOOL] })));
      const deltas = parts.filter((p) => p.type === 'tool-call-delta');
      expect(deltas.length).toBeGreaterThanOrEqual(2);
      expect(deltas.map((p) => (p as { argsDelta: string }).argsDelta).join('')).toBe('{"city":"Paris"}');
      expect(parts).toContainEqual({
        type: 'tool-call-start',
        toolCallId: 'call_1',
        toolName: 'get_weather',
      });
      const call = parts.find((p) => p.type === 'tool-call');
      expect(call).toMatchObject({ toolCallId: 'call_1', toolName: 'get_weather' });
      expect(JSON.parse((call as { args: string }).args)).toEqual({ city: 'Paris' });
      expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });
    });

    it('reports usage with cache reads split from uncached input', async () => {
      server.enqueue(FULL_SCRIPT);
      const parts = await collect(streamModel(request(provider, { tools: [WEATHER_TOOL] })));
      const finish = parts.at(-1) as Extract<LlmStreamPart, { type: 'finish' }>;
      expect(finish.usage).toMatchObject({
        inputTokens: 20,
        cacheReadTokens: 100,
        outputTokens: 30,
        totalTokens: 150,
      });
    });

    it('sends the API key and the model to the provider', async () => {
      server.enqueue({ text: 'ok' });
      await collect(streamModel(request(provider)));
      const sent = server.requests[0]!;
      const body = sent.body as { model?: string; stream?: boolean };
      expect(body.stream).toBe(true);
      if (provider === 'anthropic') {
        expect(sent.headers['x-api-key']).toBe('sk-test');
        expect(body.model).toBe('claude-sonnet-4-5');
      } else if (provider === 'azure') {
        expect(sent.headers['api-key']).toBe('sk-test');
        expect(sent.path).toBe('/openai/v1/responses');
      } else {
        expect(sent.headers.authorization).toBe('Bearer sk-test');
        expect(body.model).toBe('gpt-4o');
      }
    });
  },
);

describe('streamModel reasoning', () => {
  it.each<ChatProviderType>(['openai', 'openai-compat', 'anthropic'])(
    '%s streams reasoning deltas before the text',
    async (provider) => {
      server.enqueue({ reasoning: ['Because ', 'so.'], text: 'Answer' });
      const parts = await collect(streamModel(request(provider)));
      const kinds = parts.map((p) => p.type).filter((t) => t === 'reasoning-delta' || t === 'text-delta');
      expect(kinds).toEqual(['reasoning-delta', 'reasoning-delta', 'text-delta']);
      const accumulator = new StepAccumulator();
      parts.forEach((part) => accumulator.add(part));
      expect(accumulator.content().parts[0]).toMatchObject({ type: 'reasoning', text: 'Because so.' });
    },
  );

  it('keeps the Anthropic thinking signature on the reasoning block', async () => {
    server.enqueue({ reasoning: 'Hmm.', reasoningSignature: 'sig-123', text: 'Yes' });
    const parts = await collect(streamModel(request('anthropic')));
    expect(parts).toContainEqual(expect.objectContaining({ type: 'reasoning-end', signature: 'sig-123' }));
  });

  it('reports OpenAI reasoning tokens as part of the output', async () => {
    server.enqueue({
      reasoning: 'r',
      text: 't',
      usage: { inputTokens: 10, outputTokens: 50, reasoningTokens: 40 },
    });
    const parts = await collect(streamModel(request('openai')));
    expect(parts.at(-1)).toMatchObject({ usage: { outputTokens: 50, reasoningTokens: 40 } });
  });
});

describe('streamModel usage normalisation', () => {
  it('reads Anthropic cache creation tokens as cache writes', async () => {
    server.enqueue({
      text: 'x',
      usage: { inputTokens: 7, cacheReadTokens: 300, cacheWriteTokens: 50, outputTokens: 9 },
    });
    const parts = await collect(streamModel(request('anthropic')));
    const usage = (parts.at(-1) as Extract<LlmStreamPart, { type: 'finish' }>).usage;
    expect(usage).toEqual({
      inputTokens: 7,
      cacheReadTokens: 300,
      cacheWriteTokens: 50,
      outputTokens: 9,
      reasoningTokens: 0,
      totalTokens: 366,
    });
  });

  it('asks OpenAI-compatible servers for the usage chunk', async () => {
    server.enqueue({ text: 'x', usage: { inputTokens: 1, outputTokens: 1 } });
    await collect(streamModel(request('openai-compat')));
    expect((server.requests[0]!.body as { stream_options?: unknown }).stream_options).toEqual({
      include_usage: true,
    });
  });
});

describe('streamModel call options', () => {
  it('sends OpenAI sampling settings and provider options on the Responses API', async () => {
    server.enqueue({ text: 'x' });
    const settings = callSettingsFromConfig('openai', {
      max_output_tokens: 1234,
      temperature: 0.5,
      provider_options: { openai: { service_tier: 'priority', parallel_tool_calls: false } },
    });
    await collect(streamModel(request('openai', { settings })));
    expect(server.requests[0]!.body).toMatchObject({
      max_output_tokens: 1234,
      temperature: 0.5,
      service_tier: 'priority',
    });
  });

  it('sends OpenAI reasoning effort and summary to a reasoning model', async () => {
    server.enqueue({ reasoning: 'r', text: 'x' });
    const model = createLanguageModel(
      { provider: 'openai', apiKey: 'k', baseUrl: server.baseUrl },
      'o4-mini',
    );
    const settings = callSettingsFromConfig('openai', {
      provider_options: { openai: { reasoning_effort: 'high', reasoning_summary: 'detailed' } },
    });
    await collect(streamModel(request('openai', { model, settings })));
    expect(server.requests[0]!.body).toMatchObject({ reasoning: { effort: 'high', summary: 'detailed' } });
  });

  it('sends the Anthropic thinking budget from the stored snake_case shape', async () => {
    server.enqueue({ text: 'x' });
    const settings = callSettingsFromConfig('anthropic', {
      max_output_tokens: 4000,
      provider_options: { anthropic: { thinking: { budget_tokens: 2048 } } },
    });
    await collect(streamModel(request('anthropic', { settings })));
    expect(server.requests[0]!.body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 } });
  });

  it('passes OpenAI-compatible provider options verbatim into the body', async () => {
    server.enqueue({ text: 'x' });
    const settings = callSettingsFromConfig('openai-compat', {
      provider_options: { openaicompat: { chat_template_kwargs: { enable_thinking: true } } },
    });
    await collect(streamModel(request('openai-compat', { settings })));
    expect(server.requests[0]!.body).toMatchObject({ chat_template_kwargs: { enable_thinking: true } });
  });
});

describe('streamModel errors', () => {
  it.each<[ChatProviderType, FakeLlmResponse['error'], string, boolean]>([
    ['openai', { status: 429, retryAfterSeconds: 7 }, 'rate_limit', true],
    [
      'openai',
      { status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota.' },
      'usage_limit',
      false,
    ],
    ['openai', { status: 401 }, 'auth', false],
    ['openai', { status: 500 }, 'generic', true],
    ['openai-compat', { status: 503 }, 'timeout', true],
    ['openai-compat', { status: 400, message: 'Bad input.' }, 'generic', false],
    ['anthropic', { status: 529 }, 'overloaded', true],
    ['anthropic', { status: 404, message: 'model: claude-nope' }, 'config', false],
  ])('%s HTTP error %j is classified as %s (retryable %s)', async (provider, error, kind, retryable) => {
    server.enqueue({ error });
    const thrown = await failure(streamModel(request(provider)));
    expect(thrown).toBeInstanceOf(LlmCallError);
    const classified = (thrown as LlmCallError).classification;
    expect(classified).toMatchObject({ kind, retryable, statusCode: error!.status, provider });
    if (error!.retryAfterSeconds) expect(classified.retryAfterMs).toBe(error!.retryAfterSeconds * 1000);
  });

  it('classifies a connection dropped mid-stream as retryable, after the parts already sent', async () => {
    server.enqueue({ text: ['a', 'b', 'c'], dropAfterEvents: 3 });
    const parts: LlmStreamPart[] = [];
    let thrown: unknown;
    try {
      for await (const part of streamModel(request('openai-compat'))) parts.push(part);
    } catch (error) {
      thrown = error;
    }
    expect(parts.filter((p) => p.type === 'text-delta').length).toBeGreaterThan(0);
    expect(thrown).toBeInstanceOf(LlmCallError);
    expect((thrown as LlmCallError).classification.retryable).toBe(true);
  });
});

describe('streamModel timing', () => {
  it('waits through a first-chunk delay shorter than the timeout', async () => {
    server.enqueue({ text: 'late', delayMs: 300 });
    const parts = await collect(streamModel(request('anthropic', { firstChunkTimeoutMs: 10_000 })));
    expect(parts[0]).toMatchObject({ type: 'text-delta', text: 'late' });
  });

  it('fails with a retryable startup_timeout when nothing arrives within the first-chunk timeout', async () => {
    server.enqueue({ text: 'never', stallAfterEvents: 0 });
    const thrown = await failure(streamModel(request('openai', { firstChunkTimeoutMs: 200 })));
    expect(thrown).toBeInstanceOf(LlmCallError);
    expect((thrown as LlmCallError).classification).toMatchObject({
      kind: 'startup_timeout',
      retryable: true,
    });
    expect((thrown as LlmCallError).cause).toBeInstanceOf(FirstChunkTimeoutError);
  });

  it('still yields the finish (with usage) when the caller aborts after the model finished', async () => {
    server.enqueue({ text: ['all', ' done'], usage: { inputTokens: 7, outputTokens: 2 } });
    const abort = new AbortController();
    const parts: LlmStreamPart[] = [];
    for await (const part of streamModel(request('openai', { abortSignal: abort.signal }))) {
      parts.push(part);
      if (part.type === 'text-delta' && part.text === ' done') {
        // The caller is busy with the last part while the rest of the stream arrives, then
        // an interrupt lands.
        await new Promise((r) => setTimeout(r, 200));
        abort.abort();
      }
    }
    expect(parts.at(-1)).toMatchObject({ type: 'finish', usage: { inputTokens: 7, outputTokens: 2 } });
  });

  it('does not time out a stream that started and then stalls; the caller abort ends it', async () => {
    server.enqueue({ text: ['partial', ' rest'], stallAfterEvents: 4 });
    const abort = new AbortController();
    const parts: LlmStreamPart[] = [];
    let thrown: unknown;
    try {
      // The stall outlasts the first-chunk timeout: only output before the first part counts.
      for await (const part of streamModel(
        request('anthropic', { abortSignal: abort.signal, firstChunkTimeoutMs: 1000 }),
      )) {
        parts.push(part);
        if (part.type === 'text-delta') setTimeout(() => abort.abort(), 1500);
      }
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LlmAbortedError);
    expect(parts).toEqual([{ type: 'text-delta', id: expect.any(String), text: 'partial' }]);
  });
});
