// Maps the chat domain's errors to API errors (their codes share the status table), so the
// global error filter renders them like every other 4xx.
import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { catchError, Observable, throwError } from 'rxjs';
import { ChatCommandError, ChatErrorCode } from '@agentmesh/chats';
import { ApiError, ApiErrorCode } from '../http/api-error';

const CODES: Record<ChatErrorCode, ApiErrorCode> = {
  bad_request: 'bad_request',
  not_found: 'not_found',
  conflict: 'conflict',
  rate_limited: 'rate_limited',
  upstream: 'upstream',
};

export function toApiError(e: unknown): unknown {
  return e instanceof ChatCommandError ? new ApiError(CODES[e.code], e.message, e.detail, e.validations) : e;
}

@Injectable()
export class ChatErrorsInterceptor implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(catchError((e: unknown) => throwError(() => toApiError(e))));
  }
}
