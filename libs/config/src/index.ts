export * from './env-schema';
export * from './agentmesh-config';
