export * from './logger';
export * from './metrics';
export * from './tracing';
export * from './health';
export * from './http-hooks';
export * from './nest-logger';
export * from './bootstrap';
export * from './observability.module';
