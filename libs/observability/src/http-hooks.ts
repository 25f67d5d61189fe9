// Per-request plumbing for every HTTP server: a request id (taken from a well-formed
// X-Request-Id or generated) echoed on every response, a server span continuing the
// caller's W3C trace, one access-log line per request and request metrics.
import { randomUUID } from 'node:crypto';
import { context, propagation, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Metrics } from './metrics';

export const REQUEST_ID_HEADER = 'x-request-id';
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function genRequestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
}

const SENSITIVE_QUERY_KEY = /token|key|secret|password/i;

/**
 * The URL as logged: the path plus the query rebuilt from its decoded keys, with credential
 * values masked (WebSocket clients authenticate with `?coder_session_token=`; matching the
 * decoded key means `coder%5Fsession%5Ftoken` is masked too).
 */
export function safeUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  const masked = [...params].map(([k, v]): [string, string] => [
    k,
    SENSITIVE_QUERY_KEY.test(k) ? '[redacted]' : v,
  ]);
  return `${url.slice(0, q)}?${new URLSearchParams(masked).toString()}`;
}

export function installHttpHooks(fastify: FastifyInstance, logger: Logger, metrics: Metrics): void {
  const duration = metrics.histogram(
    'http_request_duration_seconds',
    'HTTP request latency',
    ['method', 'route', 'status'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  const tracer = trace.getTracer('agentmesh-http');

  fastify.addHook('onRequest', (req, reply, done) => {
    reply.header('X-Request-Id', req.id);
    const parent = propagation.extract(context.active(), req.headers);
    const route = req.routeOptions?.url ?? 'unmatched';
    const span = tracer.startSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER }, parent);
    (req as RequestWithSpan).amSpan = span;
    (req as RequestWithSpan).amStarted = process.hrtime.bigint();
    context.with(trace.setSpan(parent, span), done);
  });

  fastify.addHook('onResponse', (req, reply, done) => {
    const r = req as RequestWithSpan;
    const seconds = r.amStarted ? Number(process.hrtime.bigint() - r.amStarted) / 1e9 : 0;
    const route = req.routeOptions?.url ?? 'unmatched';
    duration.labels(req.method, route, String(reply.statusCode)).observe(seconds);
    const span = r.amSpan;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      const sc = span.spanContext();
      span.end();
      if (route !== '/healthz' && route !== '/readyz' && route !== '/metrics') {
        logger.info(
          {
            req_id: req.id,
            trace_id: sc.traceId,
            method: req.method,
            url: safeUrl(req.url),
            status: reply.statusCode,
            duration_ms: Math.round(seconds * 1000 * 10) / 10,
          },
          'request completed',
        );
      }
    }
    done();
  });
}

type RequestWithSpan = FastifyRequest & { amSpan?: Span; amStarted?: bigint };
