import { IsArray, IsBoolean, IsIn, IsOptional, IsString, IsUUID, ValidateIf } from 'class-validator';
import { LOGIN_TYPES, USER_STATUSES } from '@agentmesh/contracts';
import { IsDisplayName, IsPassword, IsUserEmail, IsUsername } from './validators';

export class CreateUserDto {
  @IsUserEmail() email!: string;
  @IsUsername() username!: string;
  @IsOptional() @IsDisplayName() name?: string;
  @IsOptional()
  @IsIn([...LOGIN_TYPES, ''], { message: `must be one of ${LOGIN_TYPES.join(', ')}` })
  login_type?: string;
  // A password is required for password logins and refused for the others.
  @ValidateIf((o: CreateUserDto) => !o.login_type || o.login_type === 'password' || o.password !== undefined)
  @IsPassword()
  password?: string;
  @IsOptional() @IsIn(USER_STATUSES, { message: `must be one of ${USER_STATUSES.join(', ')}` }) user_status?:
    string | null;
  @IsOptional()
  @IsArray({ message: 'must be an array of organization ids' })
  @IsUUID('all', { each: true, message: 'must contain valid uuids' })
  organization_ids?: string[];
  @IsOptional() @IsUUID('all', { message: 'must be a valid uuid' }) organization_id?: string;
  @IsOptional() @IsBoolean({ message: 'must be a boolean' }) service_account?: boolean;
  @IsOptional()
  @IsArray({ message: 'must be an array of role names' })
  @IsString({ each: true, message: 'must contain role names' })
  roles?: string[];
}
