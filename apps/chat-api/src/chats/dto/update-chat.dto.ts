import { Allow, IsBoolean, IsInt, IsObject, IsOptional, IsString } from 'class-validator';

// Type checks only (stacked decorators run bottom-up: the type check is written last).
export class UpdateChatDto {
  @IsString({ message: 'must be a string' })
  @IsOptional()
  title?: string;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  archived?: boolean;

  @IsInt({ message: 'must be an integer' })
  @IsOptional()
  pin_order?: number;

  @IsObject({ message: 'must be an object of strings' })
  @IsOptional()
  labels?: Record<string, unknown>;

  /** The nil uuid unbinds the workspace. */
  @IsString({ message: 'must be a string' })
  @IsOptional()
  workspace_id?: string;

  /** "plan" sets, "" clears (else "Invalid plan_mode value."). */
  @Allow()
  plan_mode?: unknown;
}
