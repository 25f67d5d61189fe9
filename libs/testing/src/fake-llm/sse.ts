// Server-sent-event framing shared by the fake LLM formats: OpenAI Chat Completions sends
// bare `data:` lines, OpenAI Responses and Anthropic name each event with `event:` too.
export const sseData = (payload: unknown): string =>
  `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;

export const sseEvent = (name: string, payload: unknown): string =>
  `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
