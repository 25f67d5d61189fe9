// Field rules shared by the user DTOs (the same rules the reference applies).
//
// Order matters: validation stops at a property's first failing rule, so the type check must
// run first. applyDecorators registers its arguments in order (type check listed first);
// decorators stacked on a property register bottom-up (type check written last).
import { applyDecorators } from '@nestjs/common';
import { IsEmail, IsString, Matches, MaxLength, MinLength } from 'class-validator';

export const USERNAME_RE = /^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$/;

export const IsUsername = () =>
  applyDecorators(
    IsString({ message: 'must be a string' }),
    MinLength(1, { message: 'must not be empty' }),
    MaxLength(32, { message: 'must be at most 32 characters' }),
    Matches(USERNAME_RE, { message: 'must be alphanumeric with single hyphens between words' }),
    Matches(/^(?!me$)/i, { message: '"me" is reserved' }),
  );

export const IsDisplayName = () =>
  applyDecorators(
    IsString({ message: 'must be a string' }),
    MaxLength(128, { message: 'must be at most 128 characters' }),
    Matches(/^(\S(.*\S)?)?$/s, { message: 'must not start or end with whitespace' }),
  );

export const IsUserEmail = () =>
  applyDecorators(
    IsString({ message: 'must be a string' }),
    IsEmail({}, { message: 'must be a valid email address' }),
  );

export const IsPassword = () =>
  applyDecorators(
    IsString({ message: 'must be a string' }),
    MinLength(8, { message: 'must be at least 8 characters' }),
    MaxLength(256, { message: 'must be at most 256 characters' }),
  );
