// The one way a chat lifecycle event (`{p}.chat.events.{owner}.{chat}`, what `/watch` sockets
// and CHAT_EVENTS consumers see) is written: to the outbox, in the writer's transaction, with
// the whole chat as the change left it.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { ChatWatchKind } from '@agentmesh/contracts';
import { OutboxService, Subjects } from '@agentmesh/bus';
import { ChatRow, toChat } from './chat-mapper';

export function enqueueChatEvent(
  outbox: OutboxService,
  em: EntityManager,
  kind: ChatWatchKind,
  row: ChatRow,
): Promise<void> {
  return outbox.enqueue(
    em,
    Subjects.chatEvents,
    { v: 1, kind, chat: toChat(row) },
    `chat:${row.id}:${kind}:${randomUUID()}`,
    row.owner_id,
    row.id,
  );
}
