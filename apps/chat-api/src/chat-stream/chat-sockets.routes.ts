// The two WebSocket endpoints, registered on Fastify directly (Nest's router has no
// WebSocket upgrade for Fastify): GET /api/experimental/chats/watch and
// GET /api/experimental/chats/{chat}/stream. Everything that can fail with an HTTP status
// runs in the route's preHandler, before the upgrade, so the client gets a real response:
// 401 without a valid credential (header, cookie, bearer or `coder_session_token` query
// parameter), 400/404 for a malformed or unreadable chat, 400 "Invalid after_id parameter.".
// The global request hooks (request id, access span, request guards) run as for any route.
// A plain GET without the upgrade gets 426.
import websocket from '@fastify/websocket';
import { Inject, Injectable } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { ErrorMessages } from '@agentmesh/contracts';
import { LOGGER } from '@agentmesh/observability';
import { AuthService, extractToken } from '../auth/auth.service';
import { ApiError } from '../http/api-error';
import { toApiError } from '../chats/chat-errors.interceptor';
import { ChatsService } from '../chats/chats.service';
import { ChatStreamService, StreamTarget } from './chat-stream.service';
import { ChatWatchService } from './chat-watch.service';

export const CHATS_BASE = '/api/experimental/chats';

/** The largest client frame accepted (client frames are ignored, but still read). */
export const SOCKET_READ_LIMIT = 4 * 1024 * 1024;

export const StreamMessages = {
  invalidAfterId: 'Invalid after_id parameter.',
  upgradeRequired: 'This endpoint speaks WebSocket: send an upgrade request.',
} as const;

/** `after_id`: absent or empty = 0, else a non-negative integer JavaScript holds exactly. */
export function parseAfterId(raw: unknown): number {
  if (raw === undefined || raw === '') return 0;
  if (typeof raw === 'string' && /^\d{1,16}$/.test(raw)) {
    const n = Number(raw);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new ApiError('bad_request', StreamMessages.invalidAfterId);
}

type StreamRequest = FastifyRequest<{ Params: { chat: string }; Querystring: Record<string, unknown> }>;

@Injectable()
export class ChatSocketRoutes {
  /** What a stream request's preHandler established, for its socket handler. */
  private readonly targets = new WeakMap<FastifyRequest, StreamTarget>();

  constructor(
    private readonly auth: AuthService,
    private readonly chats: ChatsService,
    private readonly stream: ChatStreamService,
    private readonly watch: ChatWatchService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  register(fastify: FastifyInstance): void {
    fastify.route({
      method: 'GET',
      url: `${CHATS_BASE}/watch`,
      preHandler: (req, reply) =>
        this.guard(req, reply, async () => {
          req.auth = await this.auth.authenticate(extractToken(req));
        }),
      handler: (_req, reply) => this.upgradeRequired(reply),
      wsHandler: (socket: WebSocket, req: FastifyRequest) =>
        req.auth ? this.watch.open(socket, req.auth) : socket.terminate(),
    });
    fastify.route({
      method: 'GET',
      url: `${CHATS_BASE}/:chat/stream`,
      preHandler: (req, reply) =>
        this.guard(req, reply, async () => {
          const r = req as StreamRequest;
          const auth = await this.auth.authenticate(extractToken(r));
          const chat = await this.chats.load(auth, r.params.chat);
          const afterId = parseAfterId(r.query.after_id);
          req.auth = auth;
          this.targets.set(req, { auth, chat: { id: chat.id, owner_id: chat.owner_id }, afterId });
        }),
      handler: (_req, reply) => this.upgradeRequired(reply),
      wsHandler: (socket: WebSocket, req: FastifyRequest) => {
        const target = this.targets.get(req);
        this.targets.delete(req);
        if (!target) return socket.terminate();
        return this.stream.open(socket, target);
      },
    });
  }

  /** Runs `check`; an error becomes the API's error response and stops the request. */
  private async guard(
    req: FastifyRequest,
    reply: FastifyReply,
    check: () => Promise<void>,
  ): Promise<unknown> {
    try {
      await check();
      return undefined;
    } catch (raw) {
      const e = toApiError(raw);
      if (e instanceof ApiError) {
        for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
        return reply.code(e.status).send(e.body());
      }
      this.logger.error({ err: e, req_id: req.id, route: req.routeOptions?.url }, 'unhandled error');
      return reply.code(500).send({ message: ErrorMessages.internal, detail: `request id: ${req.id}` });
    }
  }

  private upgradeRequired(reply: FastifyReply): FastifyReply {
    return reply.code(426).header('Upgrade', 'websocket').send({ message: StreamMessages.upgradeRequired });
  }
}

/**
 * Installs the WebSocket plugin and the socket routes on chat-api's Fastify instance. Called
 * from bootstrap's configure step: before Nest registers its routes (and its 404 handler)
 * when the app initializes in listen.
 */
export async function installChatSockets(app: NestFastifyApplication, logger: Logger): Promise<void> {
  await app.register(websocket, {
    options: { maxPayload: SOCKET_READ_LIMIT },
    errorHandler: (error, socket) => {
      logger.debug({ err: error }, 'websocket error');
      socket.terminate();
    },
  });
  app.get(ChatSocketRoutes).register(app.getHttpAdapter().getInstance());
}
