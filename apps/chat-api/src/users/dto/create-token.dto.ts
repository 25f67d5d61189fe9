import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

export class AllowListEntryDto {
  @IsString({ message: 'must be a string' }) @MaxLength(64) type!: string;
  @IsString({ message: 'must be a string' }) @MaxLength(64) id!: string;
}

export class CreateTokenDto {
  /** Nanoseconds (Go time.Duration); 0 or absent = the default lifetime. */
  @IsOptional()
  @IsInt({ message: 'must be an integer number of nanoseconds' })
  @Min(0, { message: 'must not be negative' })
  lifetime?: number;
  @IsOptional() @IsString({ message: 'must be a string' }) scope?: string;
  @IsOptional()
  @IsArray({ message: 'must be an array of scope names' })
  @ArrayMaxSize(32)
  @IsString({ each: true, message: 'must contain scope names' })
  scopes?: string[];
  @IsOptional()
  @IsString({ message: 'must be a string' })
  @MaxLength(32, { message: 'must be at most 32 characters' })
  @Matches(/^[a-zA-Z0-9_-]*$/, { message: 'may contain only letters, digits, _ and -' })
  token_name?: string;
  @IsOptional()
  @IsArray({ message: 'must be an array' })
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => AllowListEntryDto)
  allow_list?: AllowListEntryDto[];
}
