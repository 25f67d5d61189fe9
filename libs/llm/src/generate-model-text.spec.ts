// Non-streaming calls (titles) against the fake servers' JSON responses.
import type { ChatProviderType } from '@agentmesh/contracts';
import { FakeLlmServer } from '@agentmesh/testing';
import { LlmCallError } from './errors';
import { generateModelText } from './generate-model-text';
import { createLanguageModel } from './provider-registry';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(() => server.close());
afterEach(() => server.reset());

const call = (provider: ChatProviderType, timeoutMs?: number) =>
  generateModelText({
    model: createLanguageModel(
      { provider, apiKey: 'k', baseUrl: provider === 'anthropic' ? server.url : server.baseUrl },
      provider === 'anthropic' ? 'claude-haiku-4-5' : 'gpt-4o-mini',
    ),
    provider,
    messages: [{ role: 'user', content: 'Name this chat' }],
    ...(timeoutMs ? { timeoutMs } : {}),
  });

describe('generateModelText', () => {
  it.each<ChatProviderType>(['openai', 'openai-compat', 'anthropic'])(
    '%s returns the text, usage and response id of a non-streamed answer',
    async (provider) => {
      server.enqueue({
        id: 'id-42',
        text: 'Debugging the build',
        usage: { inputTokens: 12, cacheReadTokens: 4, outputTokens: 5 },
      });
      const result = await call(provider);
      expect(result).toMatchObject({
        text: 'Debugging the build',
        finishReason: 'stop',
        providerResponseId: 'id-42',
        usage: { inputTokens: 12, cacheReadTokens: 4, outputTokens: 5 },
      });
      expect((server.requests[0]!.body as { stream?: boolean }).stream).not.toBe(true);
    },
  );

  it('classifies an HTTP error', async () => {
    server.enqueue({ error: { status: 529 } });
    await expect(call('anthropic')).rejects.toMatchObject({
      classification: { kind: 'overloaded', retryable: true, statusCode: 529 },
    });
  });

  it("fails with a non-retryable timeout when the caller's deadline passes", async () => {
    server.enqueue({ text: 'slow', delayMs: 5_000 });
    const error = await call('openai', 100).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmCallError);
    expect((error as LlmCallError).classification).toMatchObject({ kind: 'timeout', retryable: false });
  });
});
