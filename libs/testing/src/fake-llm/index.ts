// Fake LLM provider servers speaking the real OpenAI and Anthropic wire formats.
export { FakeLlmServer, type FakeLlmServerOptions } from './fake-llm-server';
export type {
  FakeHttpError,
  FakeLlmFormat,
  FakeLlmRequest,
  FakeLlmResponse,
  FakeToolCall,
  FakeUsage,
} from './script';
