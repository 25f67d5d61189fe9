import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

// Stacked decorators run bottom-up and validation stops at the first failure: type checks last.

export class AllowListEntryDto {
  @Matches(/^([a-z_]+|\*)$/, { message: 'must be a resource type or *' })
  @IsString({ message: 'must be a string' })
  type!: string;
  @Matches(/^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\*)$/, {
    message: 'must be a uuid or *',
  })
  @IsString({ message: 'must be a string' })
  id!: string;
}

export class CreateTokenDto {
  /** Nanoseconds (Go time.Duration); 0 or absent = the default lifetime. */
  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be an integer number of nanoseconds' })
  @IsOptional()
  lifetime?: number;

  @IsString({ message: 'must be a string' })
  @IsOptional()
  scope?: string;

  @IsString({ each: true, message: 'must contain scope names' })
  @ArrayMaxSize(32, { message: 'must list at most 32 scopes' })
  @IsArray({ message: 'must be an array of scope names' })
  @IsOptional()
  scopes?: string[];

  @Matches(/^[a-zA-Z0-9_-]*$/, { message: 'may contain only letters, digits, _ and -' })
  @MaxLength(32, { message: 'must be at most 32 characters' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  token_name?: string;

  @ValidateNested({ each: true })
  @IsObject({ each: true, message: 'must contain {type, id} objects' })
  @ArrayMaxSize(64, { message: 'must list at most 64 entries' })
  @IsArray({ message: 'must be an array' })
  @Type(() => AllowListEntryDto)
  @IsOptional()
  allow_list?: AllowListEntryDto[];
}
