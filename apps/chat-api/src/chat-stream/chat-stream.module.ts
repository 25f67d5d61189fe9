// Live updates over WebSockets: GET /chats/{chat}/stream (snapshot then live events of one
// chat, from any replica) and GET /chats/watch (the caller's chat lifecycle events). The
// routes are installed on Fastify by `installChatSockets` (bootstrap's configure step).
import { Module } from '@nestjs/common';
import { AuthService } from '../auth/auth.service';
import { ChatsModule } from '../chats/chats.module';
import { ChatSocketRoutes } from './chat-sockets.routes';
import { ChatStreamHub } from './chat-stream-hub';
import { ChatStreamService } from './chat-stream.service';
import { ChatWatchHub } from './chat-watch-hub';
import { ChatWatchService } from './chat-watch.service';
import { NatsGaps } from './nats-gaps';
import { DEFAULT_SOCKET_OPTIONS, SOCKET_OPTIONS, SocketRegistry } from './socket-registry';

@Module({
  imports: [ChatsModule],
  providers: [
    { provide: SOCKET_OPTIONS, useValue: DEFAULT_SOCKET_OPTIONS },
    AuthService,
    NatsGaps,
    SocketRegistry,
    ChatStreamHub,
    ChatWatchHub,
    ChatStreamService,
    ChatWatchService,
    ChatSocketRoutes,
  ],
})
export class ChatStreamModule {}
