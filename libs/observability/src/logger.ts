// pino JSON logger shared by every app. Each line carries the app name and, when a span is
// active, its trace and span ids; credentials are redacted wherever they appear.
import pino, { Logger } from 'pino';
import { isSpanContextValid, trace } from '@opentelemetry/api';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["coder-session-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.old_password',
  '*.session_token',
  '*.api_key',
  '*.key',
  '*.token',
  'password',
  'api_key',
];

/**
 * Errors as logged: message, type, stack and SQLSTATE, but never the bound parameters a
 * database error carries (they may hold password hashes, emails or secrets).
 */
export function serializeError(e: unknown): unknown {
  const out = pino.stdSerializers.err(e as Error) as unknown as Record<string, unknown>;
  if (out && typeof out === 'object') {
    delete out.parameters;
    const driver = out.driverError as Record<string, unknown> | undefined;
    if (driver && typeof driver === 'object')
      out.driverError = { code: driver.code, message: driver.message };
  }
  return out;
}

export function createLogger(app: string, level: string): Logger {
  return pino({
    level,
    base: { app },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    mixin() {
      const span = trace.getActiveSpan();
      const ctx = span?.spanContext();
      if (!ctx || !isSpanContextValid(ctx)) return {};
      return { trace_id: ctx.traceId, span_id: ctx.spanId };
    },
  });
}

export type { Logger };
