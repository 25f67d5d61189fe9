export * from './pg-admin';
export * from './nats-admin';
export * from './test-db';
export * from './app-env';
export * from './processes';
export * from './tcp-proxy';
export * from './fake-llm';
