// Starts any agentmesh app the same way: validate config (exit 2 naming every bad
// variable), init tracing and logging, build the Nest app on Fastify, listen, and on
// SIGTERM/SIGINT drain: readiness goes red, Nest shutdown hooks stop intake and finish
// in-flight work, connections close; a hard deadline exits if draining hangs.
import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, EnvSchema, redactConfig } from '@agentmesh/config';
import type { Logger } from 'pino';
import { createLogger } from './logger';
import { genRequestId, installHttpHooks } from './http-hooks';
import { Metrics } from './metrics';
import { PinoNestLogger } from './nest-logger';
import { ReadinessService } from './health';
import { StartupCleanup } from './startup-cleanup';
import { initTracing, shutdownTracing } from './tracing';

export interface SharedSingletons {
  logger: Logger;
  metrics: Metrics;
  cleanup: StartupCleanup;
}

export interface BootstrapOptions<C> {
  app: string;
  /** The app's config schema: the effective configuration is logged at boot, secrets redacted. */
  schema: EnvSchema;
  loadConfig: () => C;
  /** Builds the root module from the validated config and shared singletons. */
  module: (cfg: C, shared: SharedSingletons) => Type<unknown> | DynamicModule;
  listen: (cfg: C) => { host: string; port: number };
  logLevel: (cfg: C) => string;
  otlpEndpoint: (cfg: C) => string | undefined;
  gracePeriodMs: (cfg: C) => number;
  /** Extra setup on the created app (filters, OpenAPI) before listen. */
  configure?: (app: NestFastifyApplication, cfg: C, logger: Logger) => void | Promise<void>;
  bodyLimit?: number;
  /** Trust X-Forwarded-For for the client IP (behind a load balancer). */
  trustProxy?: (cfg: C) => boolean;
}

export interface RunningApp {
  app: INestApplication;
  url: string;
  logger: Logger;
  close(): Promise<void>;
}

export async function startApp<C>(opts: BootstrapOptions<C>): Promise<RunningApp> {
  const cfg = opts.loadConfig();
  initTracing(opts.app, opts.otlpEndpoint(cfg));
  const logger = createLogger(opts.app, opts.logLevel(cfg));
  const metrics = new Metrics(opts.app);
  logger.info({ config: redactConfig(opts.schema, cfg as Record<string, unknown>) }, `${opts.app} starting`);
  const cleanup = new StartupCleanup();
  const adapter = new FastifyAdapter({
    logger: false,
    genReqId: genRequestId,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Path parameters may be long ids (AI Bridge client session ids: up to 256 characters of
    // up to 4 UTF-8 bytes each, percent-encoded as 3 characters a byte: 3,072); Fastify's
    // default of 100 would answer 414.
    routerOptions: { maxParamLength: 3072 },
    // Behind a load balancer trust exactly one hop: the left-most X-Forwarded-For entries are
    // whatever the client wrote and must not become the client IP (rate limits key on it).
    trustProxy: opts.trustProxy?.(cfg) ? 1 : false,
    // Malformed URLs (bad percent-encoding) get the API's error shape, not Fastify's.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      reply.header('X-Request-Id', req.id);
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 400;
      void reply
        .code(status)
        .send({ message: err.code === 'FST_ERR_BAD_URL' ? 'Invalid URL.' : 'Invalid request.' });
    },
  });
  installHttpHooks(adapter.getInstance(), logger, metrics);
  const { host, port } = opts.listen(cfg);
  let app: NestFastifyApplication;
  try {
    app = await NestFactory.create<NestFastifyApplication>(
      opts.module(cfg, { logger, metrics, cleanup }),
      adapter,
      {
        logger: new PinoNestLogger(logger),
        bufferLogs: false,
        abortOnError: false,
      },
    );
    await opts.configure?.(app, cfg, logger);
    await app.listen(port, host);
  } catch (e) {
    // Nest runs no shutdown hooks for an app that failed to start: close what was opened.
    await cleanup.runAll();
    await adapter.close().catch(() => undefined);
    throw e;
  }
  const address = app.getHttpServer().address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${boundPort}`;
  logger.info({ url }, `${opts.app} listening`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      app.get(ReadinessService).markDraining();
      await app.close();
      await shutdownTracing();
    })());
  return { app, url, logger, close };
}

/** Entry point for `main.ts`: starts the app and wires signals to a bounded drain. */
export function runMain<C>(opts: BootstrapOptions<C>): void {
  let grace = 25_000;
  startApp({
    ...opts,
    loadConfig: () => {
      const cfg = opts.loadConfig();
      grace = opts.gracePeriodMs(cfg);
      return cfg;
    },
  }).then(
    (running) => {
      let signalled = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (signalled) return;
        signalled = true;
        running.logger.info({ signal, grace_ms: grace }, 'shutting down: draining in-flight work');
        const deadline = setTimeout(() => {
          running.logger.error({ grace_ms: grace }, 'shutdown grace period exceeded; exiting');
          process.exit(1);
        }, grace + 5000);
        deadline.unref();
        running.close().then(
          () => {
            running.logger.info('shutdown complete');
            running.logger.flush?.();
            process.exit(0);
          },
          (e: unknown) => {
            running.logger.error({ err: e }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    (e: unknown) => {
      if (e instanceof ConfigError) {
        process.stderr.write(`${opts.app}: ${e.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${opts.app}: failed to start: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

interface WorkerConfigShape {
  LOG_LEVEL: string;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  SHUTDOWN_GRACE_PERIOD: number;
  HEALTH_HOST: string;
  HEALTH_PORT: number;
}

/** Options of a worker app: no public API, health and metrics on its internal port. */
export function workerOptions<C extends WorkerConfigShape>(
  app: string,
  schema: EnvSchema,
  loadConfig: () => C,
  module: BootstrapOptions<C>['module'],
): BootstrapOptions<C> {
  return {
    app,
    schema,
    loadConfig,
    module,
    listen: (cfg) => ({ host: cfg.HEALTH_HOST, port: cfg.HEALTH_PORT }),
    logLevel: (cfg) => cfg.LOG_LEVEL,
    otlpEndpoint: (cfg) => cfg.OTEL_EXPORTER_OTLP_ENDPOINT,
    gracePeriodMs: (cfg) => cfg.SHUTDOWN_GRACE_PERIOD,
    bodyLimit: 16 * 1024,
  };
}
