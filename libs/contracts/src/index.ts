export * from './errors';
export * from './users';
export * from './events';
export * from './time';
export * from './client';
export * from './chats';
