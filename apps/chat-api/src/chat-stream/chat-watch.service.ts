// GET /chats/watch after the upgrade: the caller's own chats' lifecycle events (created,
// deleted, status/title/diff changes, action_required), one `{kind, chat, tool_calls?}` per
// frame, live from the owner's CHAT_EVENTS subjects. Nothing is replayed: a client lists its
// chats over HTTP after connecting. Each frame is sent only if the caller may read that chat
// now (as GET /chats/{chat} decides: roles per organization, token scopes), so a token
// without chat:read or a user without agents-access in the chat's organization sees nothing.
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { LOGGER } from '@agentmesh/observability';
import { AuthContext } from '../auth/auth.types';
import { can } from '../auth/authz';
import { chatObject } from '../chats/chats.service';
import { ChatWatchHub } from './chat-watch-hub';
import { NatsGaps } from './nats-gaps';
import { CloseCodes } from './socket-channel';
import { SocketRegistry } from './socket-registry';

@Injectable()
export class ChatWatchService {
  constructor(
    private readonly hub: ChatWatchHub,
    private readonly gaps: NatsGaps,
    private readonly registry: SocketRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  open(ws: WebSocket, auth: AuthContext): void {
    const log = this.logger.child({ user_id: auth.userId, socket: 'watch' });
    const channel = this.registry.track(ws, 'watch', log);
    const stopListening = this.hub.listen(auth.userId, (frame, chat) => {
      if (can(auth, 'read', chatObject(chat))) channel.send([frame]);
    });
    const stopGaps = this.gaps.onGap(() =>
      channel.close(CloseCodes.serviceRestart, 'live events may have been missed; reconnect'),
    );
    channel.onClose(() => {
      stopListening();
      stopGaps();
    });
  }
}
