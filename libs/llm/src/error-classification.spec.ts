// Classification rules of reference chatd §3.9, as a table over the errors the AI SDK
// raises (APICallError with status, headers and the provider's body) and our own errors.
import { APICallError, RetryError } from 'ai';
import {
  classifyLlmError,
  ERROR_DETAIL_MAX_RUNES,
  LlmErrorKind,
  parseRetryAfter,
  RETRYABLE_STATUS_CODES,
} from './error-classification';
import {
  FirstChunkTimeoutError,
  LlmAbortedError,
  LlmCallError,
  ProviderDisabledError,
  UnsupportedProviderError,
} from './errors';

function httpError(statusCode: number, message: string, body = '', headers: Record<string, string> = {}) {
  return new APICallError({
    message,
    url: 'https://api.example.test/v1/x',
    requestBodyValues: {},
    statusCode,
    responseHeaders: headers,
    responseBody: body,
  });
}

const classify = (error: unknown, provider = 'openai') => classifyLlmError(error, { provider, now: 0 });

describe('classifyLlmError: HTTP statuses and provider bodies', () => {
  it.each<[string, unknown, LlmErrorKind, boolean]>([
    ['529 is overloaded', httpError(529, 'Overloaded'), 'overloaded', true],
    [
      "Anthropic's overloaded_error body is overloaded",
      httpError(
        500,
        'Overloaded',
        '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
      ),
      'overloaded',
      true,
    ],
    ['429 is a rate limit', httpError(429, 'Rate limit reached for requests'), 'rate_limit', true],
    [
      '429 insufficient_quota is a usage limit, not a rate limit',
      httpError(429, 'You exceeded your current quota', '{"error":{"code":"insufficient_quota"}}'),
      'usage_limit',
      false,
    ],
    [
      'a credit-balance message is a usage limit',
      httpError(400, 'Your credit balance is too low'),
      'usage_limit',
      false,
    ],
    ['401 is auth', httpError(401, 'Incorrect API key provided'), 'auth', false],
    ['403 is auth', httpError(403, 'Forbidden'), 'auth', false],
    [
      '403 naming a missing model is config, not auth',
      httpError(403, 'The model gpt-9 does not exist or you do not have access to it'),
      'config',
      false,
    ],
    ['429 that is config-like is config', httpError(429, 'maximum context length exceeded'), 'config', false],
    ['408 is a timeout', httpError(408, 'Request timeout'), 'timeout', true],
    ['502 is a timeout (gateway)', httpError(502, 'Bad gateway'), 'timeout', true],
    ['503 is a timeout (unavailable)', httpError(503, 'Service unavailable'), 'timeout', true],
    ['504 is a timeout', httpError(504, 'Gateway timeout'), 'timeout', true],
    ['404 is config', httpError(404, 'Not found'), 'config', false],
    [
      'a context-length 400 is config',
      httpError(400, "This model's maximum context length is 128000 tokens"),
      'config',
      false,
    ],
    ['500 is generic and retryable', httpError(500, 'The server had an error'), 'generic', true],
    ['any other 5xx is generic and retryable', httpError(507, 'Insufficient storage'), 'generic', true],
    ['a plain 400 is generic and not retryable', httpError(400, 'Invalid request'), 'generic', false],
    ['422 is generic and not retryable', httpError(422, 'Unprocessable'), 'generic', false],
  ])('%s', (_name, error, kind, retryable) => {
    expect(classify(error)).toMatchObject({ kind, retryable });
  });

  it('reports the HTTP status code', () => {
    expect(classify(httpError(429, 'slow down')).statusCode).toBe(429);
  });

  it('every status the reference lists as retryable classifies as retryable', () => {
    for (const status of RETRYABLE_STATUS_CODES) {
      expect([status, classify(httpError(status, 'x')).retryable]).toEqual([status, true]);
    }
  });
});

describe('classifyLlmError: transport failures and our own errors', () => {
  it('a dropped connection (fetch "terminated", socket closed) is a retryable timeout', () => {
    const socket = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    const wrapped = new APICallError({
      message: 'Failed to process successful response',
      url: 'u',
      requestBodyValues: {},
      statusCode: 200,
      cause: new TypeError('terminated', { cause: socket }),
    });
    const classified = classify(wrapped);
    expect(classified).toMatchObject({ kind: 'timeout', retryable: true });
    expect(classified.statusCode).toBeUndefined();
  });

  it('a refused connection is a retryable timeout', () => {
    const error = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    expect(classify(error)).toMatchObject({ kind: 'timeout', retryable: true });
  });

  it('the first-chunk timeout is a retryable startup_timeout', () => {
    expect(classify(new FirstChunkTimeoutError(60_000))).toMatchObject({
      kind: 'startup_timeout',
      retryable: true,
    });
  });

  it("the caller's own deadline is a timeout that is not retried", () => {
    const deadline = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(classify(deadline)).toMatchObject({ kind: 'timeout', retryable: false });
  });

  it('a disabled provider is provider_disabled and not retried', () => {
    expect(classify(new ProviderDisabledError('openai'))).toMatchObject({
      kind: 'provider_disabled',
      retryable: false,
    });
  });

  it('an unsupported provider is config', () => {
    expect(classify(new UnsupportedProviderError('acme'), 'acme')).toMatchObject({
      kind: 'config',
      retryable: false,
    });
  });

  it('a caller abort is not retried', () => {
    expect(classify(new LlmAbortedError())).toMatchObject({ retryable: false });
  });

  it('unwraps the AI SDK RetryError to its last error', () => {
    const error = new RetryError({
      message: 'failed',
      reason: 'maxRetriesExceeded',
      errors: [httpError(529, 'x')],
    });
    expect(classify(error).kind).toBe('overloaded');
  });

  it('returns the classification an LlmCallError already carries', () => {
    const classified = classify(httpError(429, 'x'));
    expect(classify(new LlmCallError(classified))).toBe(classified);
  });

  it('an unknown error without status is generic and not retried', () => {
    expect(classify(new Error('something odd'))).toMatchObject({ kind: 'generic', retryable: false });
  });
});

describe('classifyLlmError: messages, detail and retry-after', () => {
  it('names the provider in the user-facing message and keeps the provider detail', () => {
    const classified = classify(httpError(529, 'Overloaded'), 'anthropic');
    expect(classified.message).toBe('Anthropic is overloaded right now.');
    expect(classified.detail).toBe('Overloaded');
    expect(classified.provider).toBe('anthropic');
  });

  it('cuts the detail to 500 code points without splitting a character', () => {
    const detail = classify(httpError(500, '😀'.repeat(600))).detail!;
    expect(Array.from(detail)).toHaveLength(ERROR_DETAIL_MAX_RUNES);
    expect(detail).toBe('😀'.repeat(ERROR_DETAIL_MAX_RUNES));
  });

  it('takes retry-after seconds from the response headers', () => {
    expect(classify(httpError(429, 'x', '', { 'Retry-After': '12' })).retryAfterMs).toBe(12_000);
  });

  it('prefers retry-after-ms', () => {
    expect(
      classify(httpError(429, 'x', '', { 'retry-after-ms': '1500', 'retry-after': '9' })).retryAfterMs,
    ).toBe(1500);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, now)).toBe(30_000);
  });

  it('never returns a negative wait for a past date', () => {
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, now)).toBe(0);
  });

  it('ignores garbage', () => {
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });
});
