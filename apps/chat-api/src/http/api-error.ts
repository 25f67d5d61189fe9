// Domain errors carry a code; one exhaustive table maps codes to HTTP statuses, so a new
// code cannot ship without a status and no handler picks statuses ad hoc.
import { ApiErrorBody, ErrorMessages, ValidationError } from '@agentmesh/contracts';

export type ApiErrorCode =
  | 'bad_request'
  | 'validation'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'upstream';

export const STATUS_BY_CODE: Record<ApiErrorCode, number> = {
  bad_request: 400,
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  /** A model provider failed the call the request needed. */
  upstream: 502,
};

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly detail?: string,
    readonly validations?: ValidationError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }

  body(): ApiErrorBody {
    return {
      message: this.message,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.validations?.length ? { validations: this.validations } : {}),
    };
  }

  static notFound(): ApiError {
    return new ApiError('not_found', ErrorMessages.resourceNotFound);
  }

  static forbidden(detail?: string): ApiError {
    return new ApiError('forbidden', ErrorMessages.forbidden, detail);
  }

  static validation(
    validations: ValidationError[],
    message: string = ErrorMessages.validationFailed,
  ): ApiError {
    return new ApiError('validation', message, undefined, validations);
  }

  static badQuery(validations: ValidationError[]): ApiError {
    return new ApiError('bad_request', ErrorMessages.invalidQuery, undefined, validations);
  }

  static field(field: string, detail: string, message: string = ErrorMessages.validationFailed): ApiError {
    return ApiError.validation([{ field, detail }], message);
  }
}
