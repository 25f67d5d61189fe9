// Turns every error into the codersdk error body. Known errors map through ApiError's
// table; framework errors (bad JSON, unknown route, body too large) keep their 4xx status
// with a plain message; anything else is a 500 that names only the request id, while the
// full error is logged.
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ApiErrorBody, ErrorMessages } from '@agentmesh/contracts';
import { LOGGER } from '@agentmesh/observability';
import { ApiError } from './api-error';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'Request body must be valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Request body must not be empty.',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request body is too large.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported Content-Type; send application/json.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body.',
};

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const { status, body, headers } = this.toResponse(exception, req);
    for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    reply.status(status).send(body);
  }

  private toResponse(
    e: unknown,
    req: FastifyRequest,
  ): { status: number; body: ApiErrorBody; headers: Record<string, string> } {
    if (e instanceof ApiError) return { status: e.status, body: e.body(), headers: e.headers };
    if (e instanceof HttpException) {
      const status = e.getStatus();
      if (status === 404) return { status, body: { message: 'Route not found.' }, headers: {} };
      if (status === 400)
        return {
          status,
          body: { message: ErrorMessages.invalidRequestBody, detail: e.message },
          headers: {},
        };
      if (status < 500) return { status, body: { message: e.message }, headers: {} };
    }
    const fe = e as FastifyLikeError;
    if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const message = (fe.code && FASTIFY_MESSAGES[fe.code]) ?? ErrorMessages.invalidRequestBody;
      return { status: fe.statusCode, body: { message }, headers: {} };
    }
    this.logger.error(
      { err: e, req_id: req.id, method: req.method, route: req.routeOptions?.url },
      'unhandled error',
    );
    return {
      status: 500,
      body: { message: ErrorMessages.internal, detail: `request id: ${req.id}` },
      headers: {},
    };
  }
}
