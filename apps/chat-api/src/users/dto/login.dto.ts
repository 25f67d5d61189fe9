import { IsString, MaxLength, MinLength } from 'class-validator';
import { IsUserEmail } from './validators';

export class LoginDto {
  @IsUserEmail() email!: string;
  @MaxLength(256, { message: 'must be at most 256 characters' })
  @MinLength(1, { message: 'must not be empty' })
  @IsString({ message: 'must be a string' })
  password!: string;
}
