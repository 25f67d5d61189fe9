// The error body of every 4xx/5xx response (codersdk.Response).
export interface ValidationError {
  field: string;
  detail: string;
}

export interface ApiErrorBody {
  message: string;
  detail?: string;
  validations?: ValidationError[];
}

/** Messages clients match on; spelled once here. */
export const ErrorMessages = {
  resourceNotFound: 'Resource not found or you do not have access to this resource',
  unauthenticated: 'You must be logged in to access this resource.',
  invalidSessionToken: 'Invalid session token.',
  sessionExpired: 'Session has expired.',
  forbidden: 'Forbidden.',
  invalidQuery: 'Query parameters have invalid values.',
  invalidRequestBody: 'Invalid request body.',
  validationFailed: 'Validation failed.',
  internal: 'An internal error occurred.',
  tooManyLogins: 'Too many login attempts. Try again later.',
} as const;
