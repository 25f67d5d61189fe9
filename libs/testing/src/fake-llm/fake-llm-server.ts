// A scriptable fake LLM provider over real HTTP, for tests that must exercise the real SDK
// parsers (docs/architecture.md §1.5: fakes only at the outer HTTP boundary). One server
// answers OpenAI Chat Completions, OpenAI Responses and Anthropic Messages on 127.0.0.1,
// taking one scripted response per request from a queue and rendering it in the format of
// the endpoint hit. Every request is recorded (headers incl. auth, parsed JSON body).
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { anthropicFormat } from './anthropic-format';
import { openAiChatFormat, openAiErrorBody } from './openai-chat-format';
import { openAiResponsesFormat } from './openai-responses-format';
import { FakeHttpError, FakeLlmRequest, FakeLlmResponse, RenderContext } from './script';
import { WireFormat } from './wire-format';

const FORMATS: WireFormat[] = [openAiChatFormat, openAiResponsesFormat, anthropicFormat];

export interface FakeLlmServerOptions {
  /** Answer used when the queue is empty (default: a 400 naming the unscripted request). */
  fallback?: FakeLlmResponse;
}

export class FakeLlmServer {
  /** Every request received, in arrival order. */
  readonly requests: FakeLlmRequest[] = [];
  private readonly queue: FakeLlmResponse[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  /** Aborted on close, so delays and stalls end and no timer outlives the test. */
  private readonly closing = new AbortController();
  private calls = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeLlmServerOptions,
  ) {}

  static async start(options: FakeLlmServerOptions = {}): Promise<FakeLlmServer> {
    const server = createServer();
    const fake = new FakeLlmServer(server, options);
    server.on('request', (req, res) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `fake LLM server failure: ${String(err)}` } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The base URL SDKs expect for OpenAI and Anthropic (`…/v1`). */
  get baseUrl(): string {
    return `${this.url}/v1`;
  }

  /** Scripted responses still waiting for a request. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queue responses; each request takes the next one. */
  enqueue(...responses: FakeLlmResponse[]): this {
    this.queue.push(...responses);
    return this;
  }

  /** Resolves once at least `count` requests have arrived. */
  waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fake LLM: ${this.requests.length}/${count} requests after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Drop queued responses and recorded requests. */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  /** Stop listening and cut every open connection (stalled streams included). */
  async close(): Promise<void> {
    this.closing.abort();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    const format = FORMATS.find((candidate) => candidate.matches(url.pathname));
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    this.record({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : (value ?? ''),
        ]),
      ),
      body,
      format: format?.format,
    });

    const script = this.queue.shift() ?? this.options.fallback;
    const request = (body ?? {}) as Record<string, unknown>;
    // A connection the client dropped (or the server closing) ends delays and stalls early.
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    const signal = AbortSignal.any([gone.signal, this.closing.signal]);

    if (!script) {
      return sendError(res, format, {
        status: 400,
        message: `fake LLM server: no scripted response left for ${req.method} ${url.pathname}`,
      });
    }
    await sleep(script.delayMs ?? 0, signal);
    if (signal.aborted) return;
    if (script.error) return sendError(res, format, script.error);
    if (!format) {
      return sendError(res, undefined, {
        status: 404,
        message: `fake LLM server: unknown path ${url.pathname}`,
      });
    }

    const ctx: RenderContext = {
      callNumber: ++this.calls,
      requestModel: typeof request.model === 'string' ? request.model : 'fake-model',
      includeUsage: format.wantsUsage(request),
    };
    if (!format.wantsStream(request)) {
      res.writeHead(200, { 'content-type': 'application/json', ...script.headers });
      res.end(JSON.stringify(format.json(script, ctx)));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...script.headers,
    });
    res.flushHeaders();
    const events = format.streamEvents(script, ctx);
    for (let i = 0; i < events.length; i++) {
      if (i === script.stallAfterEvents) return void (await sleep(Number.MAX_SAFE_INTEGER, signal));
      // Flush what was written, then close the socket without finishing the HTTP body.
      if (i === script.dropAfterEvents) return void res.socket?.destroySoon();
      if (i > 0) await sleep(script.chunkDelayMs ?? 0, signal);
      if (signal.aborted) return;
      res.write(events[i]);
    }
    if (script.stallAfterEvents !== undefined && script.stallAfterEvents >= events.length) {
      return void (await sleep(Number.MAX_SAFE_INTEGER, signal));
    }
    res.end();
  }

  private record(request: FakeLlmRequest): void {
    this.requests.push(request);
    for (const waiter of [...this.waiters]) {
      if (this.requests.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}

function sendError(res: ServerResponse, format: WireFormat | undefined, error: FakeHttpError): void {
  const body = format ? format.errorBody(error) : openAiErrorBody(error);
  res.writeHead(error.status, {
    'content-type': 'application/json',
    ...(error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : {}),
    ...error.headers,
  });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Waits `ms` (capped to what a timer accepts) or until `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    signal.addEventListener('abort', done);
  });
}
