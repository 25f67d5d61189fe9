// OpenTelemetry: the SDK is always started so trace context exists for logs and propagates
// across HTTP and NATS; spans are exported over OTLP/HTTP only when an endpoint is configured.
import { context, propagation, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';

let sdk: NodeSDK | undefined;

const DISCARD: tracing.SpanProcessor = {
  onStart: () => undefined,
  onEnd: () => undefined,
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

export function initTracing(serviceName: string, otlpEndpoint?: string): void {
  if (sdk) return;
  sdk = new NodeSDK({
    serviceName,
    // Without an endpoint spans are still created (trace ids in logs, propagation over HTTP
    // and NATS) but go nowhere; the SDK would otherwise default to an OTLP exporter.
    ...(otlpEndpoint
      ? { traceExporter: new OTLPTraceExporter({ url: `${otlpEndpoint.replace(/\/$/, '')}/v1/traces` }) }
      : { spanProcessors: [DISCARD] }),
    instrumentations: [],
    // Resource detectors probe the environment (and cloud metadata endpoints); not wanted.
    resourceDetectors: [],
  });
  sdk.start();
}

export async function shutdownTracing(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  await s?.shutdown();
}

export const tracer = () => trace.getTracer('agentmesh');

/** Runs `fn` in a new span that is a child of the context extracted from `carrier`. */
export async function withSpanFrom<T>(
  name: string,
  carrier: Record<string, string> | undefined,
  kind: SpanKind,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = carrier ? propagation.extract(context.active(), carrier) : context.active();
  return tracer().startActiveSpan(name, { kind }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** The active trace context as W3C headers (traceparent/tracestate). */
export function currentTraceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export { SpanKind };
