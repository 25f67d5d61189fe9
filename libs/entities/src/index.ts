export * from './identity.entities';
export * from './chat.entities';
export * from './all-entities';
export * from './queries/users.queries';
export * from './queries/chat-messages.queries';
export * from './queries/chat-worker.queries';
