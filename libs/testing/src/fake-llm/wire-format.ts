// The contract each fake wire format implements: recognise a request, render a script as a
// stream of SSE events or as one JSON body, and shape an HTTP error body the way the
// provider does (the AI SDK parses those bodies to build its error message).
import { FakeHttpError, FakeLlmFormat, FakeLlmResponse, RenderContext } from './script';

export interface WireFormat {
  readonly format: FakeLlmFormat;
  /** Whether this format serves the request path (prefixes such as `/openai/v1` allowed). */
  matches(path: string): boolean;
  /** Whether the client asked for a stream. */
  wantsStream(body: Record<string, unknown>): boolean;
  /** Whether the client asked for the final usage chunk (OpenAI chat only). */
  wantsUsage(body: Record<string, unknown>): boolean;
  streamEvents(script: FakeLlmResponse, ctx: RenderContext): string[];
  json(script: FakeLlmResponse, ctx: RenderContext): unknown;
  errorBody(error: FakeHttpError): unknown;
}
