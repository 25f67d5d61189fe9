// Body of PUT /config/system-prompt (wire contract §4).
import { IsBoolean, IsOptional, IsString } from 'class-validator';

// Stacked decorators run bottom-up and validation stops at the first failure: type checks last.

export class UpdateSystemPromptDto {
  /** The custom deployment prompt; `""` removes it. The size is checked after sanitizing. */
  @IsString({ message: 'must be a string' })
  system_prompt!: string;

  /** Changes only when sent (null counts as not sent). */
  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  include_default_system_prompt?: boolean | null;
}
