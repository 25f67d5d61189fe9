// Typed errors of libs/llm. Callers map them without parsing messages: an unsupported or
// misconfigured provider is the admin's mistake (HTTP 400 at the API, a non-retryable
// `config` failure in a turn); a failed model call carries its classification (§3.9) so the
// worker can decide to retry; a caller's own abort is not a failure at all.
import type { ClassifiedLlmError } from './error-classification';

/** The provider type has no AI SDK provider on this runtime, or is unknown. */
export class UnsupportedProviderError extends Error {
  readonly code = 'unsupported_provider';
  /** What an API handler answers with. */
  readonly httpStatus = 400;

  constructor(
    readonly provider: string,
    reason?: string,
  ) {
    super(`Chat provider "${provider}" is not supported${reason ? ` (${reason})` : ''}.`);
    this.name = 'UnsupportedProviderError';
  }
}

/** The provider is known but its connection settings cannot work (e.g. no base URL). */
export class ProviderConfigError extends Error {
  readonly code = 'provider_config';
  readonly httpStatus = 400;

  constructor(
    readonly provider: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

/** The provider exists but an admin disabled it; raised by callers that check the flag. */
export class ProviderDisabledError extends Error {
  readonly code = 'provider_disabled';

  constructor(readonly provider: string) {
    super(`Chat provider "${provider}" is disabled.`);
    this.name = 'ProviderDisabledError';
  }
}

/** A model call failed; `classification` says what kind of failure and whether to retry. */
export class LlmCallError extends Error {
  constructor(
    readonly classification: ClassifiedLlmError,
    options?: { cause?: unknown },
  ) {
    super(classification.message, options);
    this.name = 'LlmCallError';
  }
}

/** The caller aborted the call (interrupt, shutdown); parts already yielded stay valid. */
export class LlmAbortedError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The model call was aborted by the caller.', options);
    this.name = 'LlmAbortedError';
  }
}

/** The first part did not arrive in time; classified as a retryable `startup_timeout`. */
export class FirstChunkTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`The model sent nothing within ${timeoutMs} ms.`);
    this.name = 'FirstChunkTimeoutError';
  }
}
