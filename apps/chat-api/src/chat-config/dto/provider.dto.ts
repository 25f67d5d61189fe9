// Bodies of POST /providers and PATCH /providers/{id} (wire contract §4.1). Only types are
// checked here; the reference's rules and messages (provider name, key size, base URL,
// credential policy) are applied by ProvidersService.
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';

// Stacked decorators run bottom-up and validation stops at the first failure: type checks last.

export class UpdateProviderDto {
  @MaxLength(256, { message: 'must be at most 256 characters' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  display_name?: string | null;

  /** Write-only; `""` clears the stored key. */
  @IsString({ message: 'must be a string' })
  @IsOptional()
  api_key?: string | null;

  /** An absolute http(s) URL; `""` restores the provider's default endpoint. */
  @IsString({ message: 'must be a string' })
  @IsOptional()
  base_url?: string | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  enabled?: boolean | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  central_api_key_enabled?: boolean | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  allow_user_api_key?: boolean | null;

  @IsBoolean({ message: 'must be a boolean' })
  @IsOptional()
  allow_central_api_key_fallback?: boolean | null;
}

export class CreateProviderDto extends UpdateProviderDto {
  /** Checked against the supported providers by the service ("Invalid provider."). */
  @MaxLength(64, { message: 'must be at most 64 characters' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  provider?: string | null;
}
