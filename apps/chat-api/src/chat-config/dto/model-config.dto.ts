// Bodies of POST /model-configs and PATCH /model-configs/{id} (wire contract §4.2). Types
// and sizes are checked here; the reference's rules and messages (model and context limit
// required, threshold range, options) are applied by ModelConfigsService, and `model_config`
// is validated field by field by model-call-config.ts.
import { Allow, IsBoolean, IsInt, IsOptional, IsString, Max, MaxLength } from 'class-validator';
import { MAX_NAME_LENGTH } from '../constants';

// Stacked decorators run bottom-up and validation stops at the first failure: type checks last.

export class UpdateModelConfigDto {
  @MaxLength(64, { message: 'must be at most 64 characters' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  provider?: string | null;

  @MaxLength(MAX_NAME_LENGTH, { message: `must be at most ${MAX_NAME_LENGTH} characters` })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  model?: string | null;

  @MaxLength(MAX_NAME_LENGTH, { message: `must be at most ${MAX_NAME_LENGTH} characters` })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  display_name?: string | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  enabled?: boolean | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  is_default?: boolean | null;

  // The column is a bigint; anything past 2^53 could not round-trip through JSON anyway.
  @Max(Number.MAX_SAFE_INTEGER, { message: `must be at most ${Number.MAX_SAFE_INTEGER}` })
  @IsInt({ message: 'must be an integer' })
  @IsOptional()
  context_limit?: number | null;

  @IsInt({ message: 'must be an integer' })
  @IsOptional()
  compression_threshold?: number | null;

  /** ChatModelCallConfig; validated by normalizeModelCallConfig. */
  @Allow()
  model_config?: unknown;
}

export class CreateModelConfigDto extends UpdateModelConfigDto {}
