// The provider registry: which provider types can be built, the typed errors for the rest,
// and — for the providers whose success wire format the fake servers do not speak (Bedrock's
// AWS event stream, Gemini, the Vercel gateway) — that the built model sends its request
// where and how the provider expects it (a scripted error ends each call).
import { CHAT_PROVIDER_TYPES } from '@agentmesh/contracts';
import { FakeLlmServer } from '@agentmesh/testing';
import { LlmCallError, ProviderConfigError, UnsupportedProviderError } from './errors';
import { createLanguageModel, isSupportedProvider, SUPPORTED_PROVIDER_TYPES } from './provider-registry';
import { streamModel } from './stream-model';

describe('createLanguageModel', () => {
  it('supports every provider type of the reference', () => {
    expect([...SUPPORTED_PROVIDER_TYPES].sort()).toEqual([...CHAT_PROVIDER_TYPES].sort());
    const baseUrls: Record<string, string> = {
      'openai-compat': 'http://127.0.0.1:9/v1',
      azure: 'https://acme.openai.azure.com',
      bedrock: 'https://bedrock-runtime.us-east-1.amazonaws.com',
    };
    for (const provider of CHAT_PROVIDER_TYPES) {
      const baseUrl = baseUrls[provider] ?? '';
      expect(createLanguageModel({ provider, apiKey: 'k', baseUrl }, 'some-model')).toHaveProperty(
        'doStream',
      );
    }
  });

  it('rejects an unknown provider type with a typed 400 error naming it', () => {
    expect(isSupportedProvider('acme')).toBe(false);
    let thrown: unknown;
    try {
      createLanguageModel({ provider: 'acme', apiKey: 'k' }, 'm');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UnsupportedProviderError);
    expect(thrown).toMatchObject({ provider: 'acme', httpStatus: 400, code: 'unsupported_provider' });
    expect((thrown as Error).message).toBe('Chat provider "acme" is not supported.');
  });

  it('requires a base URL for an OpenAI-compatible provider', () => {
    expect(() => createLanguageModel({ provider: 'openai-compat', apiKey: 'k' }, 'm')).toThrow(
      ProviderConfigError,
    );
  });

  it('rejects a base URL that is not absolute http(s)', () => {
    expect(() => createLanguageModel({ provider: 'openai', baseUrl: 'ftp://x' }, 'm')).toThrow(
      ProviderConfigError,
    );
    expect(() => createLanguageModel({ provider: 'openai', baseUrl: 'not a url' }, 'm')).toThrow(
      ProviderConfigError,
    );
  });

  it('reports a Bedrock connection without a region as a config error', () => {
    const saved = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      expect(() => createLanguageModel({ provider: 'bedrock', apiKey: 'k' }, 'm')).toThrow(
        ProviderConfigError,
      );
    } finally {
      if (saved !== undefined) process.env.AWS_REGION = saved;
    }
  });

  it('requires a model id', () => {
    expect(() => createLanguageModel({ provider: 'openai', apiKey: 'k' }, ' ')).toThrow(ProviderConfigError);
  });
});

describe('request wiring of providers without a fake wire format', () => {
  let server: FakeLlmServer;
  beforeAll(async () => {
    server = await FakeLlmServer.start();
  });
  afterAll(() => server.close());
  afterEach(() => server.reset());

  async function callOnce(provider: string, baseUrl: string, modelId: string) {
    server.enqueue({ error: { status: 400, body: { error: { code: 400, message: 'scripted failure' } } } });
    const stream = streamModel({
      model: createLanguageModel({ provider, apiKey: 'sk-test', baseUrl }, modelId),
      provider,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    let thrown: unknown;
    try {
      for await (const _part of stream) {
        // nothing is expected before the error
      }
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LlmCallError);
    expect((thrown as LlmCallError).classification).toMatchObject({
      statusCode: 400,
      retryable: false,
      provider,
    });
    expect(server.requests).toHaveLength(1);
    return server.requests[0]!;
  }

  it('bedrock sends an Anthropic Messages body to invoke-with-response-stream with the key as bearer token', async () => {
    const sent = await callOnce('bedrock', server.url, 'anthropic.claude-haiku-4-5');
    expect(sent.path).toBe('/model/anthropic.claude-haiku-4-5/invoke-with-response-stream');
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    expect(sent.body).toMatchObject({
      anthropic_version: 'bedrock-2023-05-31',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
  });

  it('google sends a streamGenerateContent request with the key header', async () => {
    const sent = await callOnce('google', `${server.url}/v1beta`, 'gemini-2.5-flash');
    expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    expect(sent.query).toEqual({ alt: 'sse' });
    expect(sent.headers['x-goog-api-key']).toBe('sk-test');
    expect(sent.body).toMatchObject({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  });

  it('vercel calls the AI Gateway language-model endpoint with the key and model id', async () => {
    const sent = await callOnce('vercel', `${server.url}/v1/ai`, 'anthropic/claude-haiku-4.5');
    expect(sent.path).toBe('/v1/ai/language-model');
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    expect(sent.headers['ai-language-model-id']).toBe('anthropic/claude-haiku-4.5');
  });
});
