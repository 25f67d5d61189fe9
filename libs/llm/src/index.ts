// libs/llm: provider registry over the Vercel AI SDK, streamed model calls as typed parts,
// token usage normalised across providers, cost in micro-dollars, error classification.
export * from './call-options';
export * from './cost';
export * from './decimal';
export * from './error-classification';
export * from './errors';
export * from './generate-model-text';
export * from './provider-options';
export * from './provider-registry';
export * from './retry-policy';
export * from './step-accumulator';
export * from './stream-model';
export * from './stream-parts';
export * from './tool-definitions';
export * from './usage';
