import { ArgumentsHost, BadRequestException, NotFoundException } from '@nestjs/common';
import { createLogger } from '@agentmesh/observability';
import { ApiError } from './api-error';
import { ErrorFilter } from './error.filter';

function run(e: unknown): { status: number; body: unknown; headers: Record<string, string> } {
  const out = { status: 0, body: undefined as unknown, headers: {} as Record<string, string> };
  const reply = {
    header: (k: string, v: string) => ((out.headers[k] = v), reply),
    status: (s: number) => ((out.status = s), reply),
    send: (b: unknown) => ((out.body = b), reply),
  };
  const host = {
    switchToHttp: () => ({
      getResponse: () => reply,
      getRequest: () => ({ id: 'req-1', method: 'GET', routeOptions: { url: '/x' } }),
    }),
  } as unknown as ArgumentsHost;
  new ErrorFilter(createLogger('test', 'silent')).catch(e, host);
  return out;
}

describe('ErrorFilter', () => {
  it('maps every ApiError code to its status with the codersdk body', () => {
    expect(run(ApiError.field('email', 'must be a valid email address'))).toMatchObject({
      status: 400,
      body: {
        message: 'Validation failed.',
        validations: [{ field: 'email', detail: 'must be a valid email address' }],
      },
    });
    expect(run(ApiError.notFound()).status).toBe(404);
    expect(
      run(new ApiError('rate_limited', 'slow down', undefined, undefined, { 'Retry-After': '7' })),
    ).toMatchObject({
      status: 429,
      headers: { 'Retry-After': '7' },
    });
  });

  it('hides the internals of unexpected errors behind a 500 with the request id', () => {
    const err = Object.assign(
      new Error('duplicate key value violates unique constraint "users_pkey" in SELECT * FROM users'),
      { code: '23505' },
    );
    const res = run(err);
    expect(res).toEqual({
      status: 500,
      body: { message: 'An internal error occurred.', detail: 'request id: req-1' },
      headers: {},
    });
    expect(JSON.stringify(res.body)).not.toMatch(/SELECT|users_pkey|at /);
  });

  it('keeps framework 4xx statuses with a plain message', () => {
    expect(run(new NotFoundException())).toMatchObject({
      status: 404,
      body: { message: 'Route not found.' },
    });
    expect(run(new BadRequestException('Unexpected token'))).toMatchObject({
      status: 400,
      body: { message: 'Invalid request body.', detail: 'Unexpected token' },
    });
    expect(run({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })).toMatchObject({
      status: 413,
      body: { message: 'Request body is too large.' },
    });
  });
});
