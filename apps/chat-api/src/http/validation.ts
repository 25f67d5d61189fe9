// Request body validation with class-validator DTOs. Failures become 400 "Validation
// failed." with one {field, detail} per problem; a body that is not a JSON object is
// rejected before any field is read.
import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError as CvError } from 'class-validator';
import { ErrorMessages, ValidationError } from '@agentmesh/contracts';
import { ApiError } from './api-error';

function flatten(errors: CvError[], parent = ''): ValidationError[] {
  const out: ValidationError[] = [];
  for (const err of errors) {
    const field = parent ? `${parent}.${err.property}` : err.property;
    if (err.constraints) {
      for (const detail of Object.values(err.constraints)) out.push({ field, detail });
    }
    if (err.children?.length) out.push(...flatten(err.children, field));
  }
  return out;
}

export function validateBody<T extends object>(cls: new () => T, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(
      'bad_request',
      ErrorMessages.invalidRequestBody,
      'The request body must be a JSON object.',
    );
  }
  const instance = plainToInstance(cls, body, { enableImplicitConversion: false });
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: false,
    forbidUnknownValues: true,
    stopAtFirstError: true,
  });
  if (errors.length > 0) throw ApiError.validation(flatten(errors));
  return instance;
}

/** Validates `@Body()` parameters whose type is a DTO class. */
@Injectable()
export class BodyValidationPipe implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    if (meta.type !== 'body' || !meta.metatype || meta.metatype === Object) return value;
    return validateBody(meta.metatype as new () => object, value);
  }
}
