export * from './errors';
export * from './users';
export * from './events';
export * from './time';
export * from './client';
export * from './chats';
export * from './aibridge';
export * from './aibridge-api';
