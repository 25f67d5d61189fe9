// Postgres text cannot hold U+0000, so a NUL anywhere in a request would surface as a
// database error (a 500). This hook rejects such requests up front with a 400 naming the
// offending field, before any handler runs.
import type { FastifyInstance } from 'fastify';
import { ApiErrorBody, ErrorMessages } from '@agentmesh/contracts';

/** Path (e.g. `body.roles.0`) of the first string containing NUL, if any. */
export function findNul(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return `${path}.${k.split('\u0000').join('\\0')}`;
    const found = findNul(v, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

export function installNulGuard(fastify: FastifyInstance): void {
  fastify.addHook('preHandler', (req, reply, done) => {
    const field = findNul(req.params, 'path') ?? findNul(req.query, 'query') ?? findNul(req.body, 'body');
    if (!field) return done();
    const body: ApiErrorBody = {
      message: ErrorMessages.invalidRequestBody,
      validations: [
        {
          field: field.replace(/^(body|query|path)\./, ''),
          detail: 'must not contain NUL (\\u0000) characters',
        },
      ],
    };
    reply.status(400).send(body);
  });
}
