import { IsArray, IsBoolean, IsIn, IsOptional, IsString, IsUUID, ValidateIf } from 'class-validator';
import { USER_STATUSES } from '@agentmesh/contracts';
import { IsDisplayName, IsPassword, IsUserEmail, IsUsername } from './validators';

/** Login types a user may be created with (`token` is a key's login type, not a user's). */
export const USER_LOGIN_TYPES = ['password', 'github', 'oidc', 'none'] as const;

// Stacked decorators run bottom-up and validation stops at the first failure: type checks last.
export class CreateUserDto {
  @IsUserEmail() email!: string;
  @IsUsername() username!: string;
  @IsOptional() @IsDisplayName() name?: string;

  @IsIn([...USER_LOGIN_TYPES, ''], { message: `must be one of ${USER_LOGIN_TYPES.join(', ')}` })
  @IsOptional()
  login_type?: string;

  // A password is required for password logins and refused for the others.
  @IsPassword()
  @ValidateIf((o: CreateUserDto) => !o.login_type || o.login_type === 'password' || o.password !== undefined)
  password?: string;

  @IsIn(USER_STATUSES, { message: `must be one of ${USER_STATUSES.join(', ')}` })
  @IsOptional()
  user_status?: string | null;

  @IsUUID('all', { each: true, message: 'must contain valid uuids' })
  @IsArray({ message: 'must be an array of organization ids' })
  @IsOptional()
  organization_ids?: string[];

  @IsUUID('all', { message: 'must be a valid uuid' })
  @IsOptional()
  organization_id?: string;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  service_account?: boolean;

  @IsString({ each: true, message: 'must contain role names' })
  @IsArray({ message: 'must be an array of role names' })
  @IsOptional()
  roles?: string[];
}
