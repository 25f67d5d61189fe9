import { IsString, MaxLength, MinLength } from 'class-validator';
import { IsUserEmail } from './validators';

export class LoginDto {
  @IsUserEmail() email!: string;
  @IsString({ message: 'must be a string' })
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(256, { message: 'must be at most 256 characters' })
  password!: string;
}
