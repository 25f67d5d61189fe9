// Request-level guards that run before any handler, so malformed requests get a clear 4xx
// and never reach the database or the validators:
// - bodies must be JSON (415 otherwise): the API speaks JSON only, and refusing form posts
//   closes the door on cross-site form submissions;
// - no string may contain U+0000 (Postgres text cannot store it);
// - JSON nesting is bounded (deep nesting would exhaust the validators' stack).
import type { FastifyInstance } from 'fastify';
import { ApiErrorBody, ErrorMessages } from '@agentmesh/contracts';

export const MAX_JSON_DEPTH = 32;

type Problem = { field: string; detail: string };

/** The first NUL or too-deep value under `root`, walked iteratively (no recursion limit). */
export function findProblem(root: unknown, location: string): Problem | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value, path, depth } = item;
    if (typeof value === 'string') {
      if (value.includes('\u0000'))
        return { field: path || location, detail: 'must not contain NUL (\\u0000) characters' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH)
      return { field: path || location, detail: `is nested more than ${MAX_JSON_DEPTH} levels deep` };
    for (const [k, v] of Object.entries(value)) {
      const child = path ? `${path}.${k}` : k;
      if (k.includes('\u0000'))
        return {
          field: child.split('\u0000').join('\\0'),
          detail: 'must not contain NUL (\\u0000) characters',
        };
      stack.push({ value: v, path: child, depth: depth + 1 });
    }
  }
  return undefined;
}

function send(
  reply: { status(n: number): { send(b: unknown): unknown } },
  status: number,
  body: ApiErrorBody,
): void {
  reply.status(status).send(body);
}

export function installRequestGuards(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (hasBody && type !== 'application/json') {
      return send(reply, 415, {
        message: 'Unsupported Content-Type; send application/json.',
        detail: `Got ${JSON.stringify(type || '(none)')}.`,
      });
    }
    done();
  });
  fastify.addHook('preHandler', (req, reply, done) => {
    const path = findProblem(req.params, 'path');
    if (path) return send(reply, 400, { message: 'Invalid path parameter.', validations: [path] });
    const query = findProblem(req.query, 'query');
    if (query) return send(reply, 400, { message: ErrorMessages.invalidQuery, validations: [query] });
    const body = findProblem(req.body, 'body');
    if (body) return send(reply, 400, { message: ErrorMessages.invalidRequestBody, validations: [body] });
    done();
  });
}
