// Chat domain services shared by chat-api and chatd-worker: every write that changes a
// chat's state goes through here (one place per transition), with its outbox events and
// signals.
export * from './chat-mapper';
export * from './chat-events';
export * from './turn-persistence.service';
export * from './chat-errors';
export * from './chat-input';
export * from './chat-prompts';
export * from './chat-queries';
export * from './chat-commands.service';
export * from './chat-models';
export * from './chat-titles.service';
export * from './chats-domain.module';
