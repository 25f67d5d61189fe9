import { Type } from 'class-transformer';
import { IsBoolean, IsObject, IsOptional, ValidateNested } from 'class-validator';
import { IsDisplayName, IsPassword, IsUserEmail, IsUsername } from './validators';

export class OnboardingInfoDto {
  @IsOptional() @IsBoolean({ message: 'must be a boolean' }) newsletter_marketing?: boolean;
  @IsOptional() @IsBoolean({ message: 'must be a boolean' }) newsletter_releases?: boolean;
}

export class CreateFirstUserDto {
  @IsUserEmail() email!: string;
  @IsUsername() username!: string;
  @IsOptional() @IsDisplayName() name?: string;
  @IsPassword() password!: string;
  @IsOptional() @IsBoolean({ message: 'must be a boolean' }) trial?: boolean;
  @IsOptional() @IsObject({ message: 'must be an object' }) trial_info?: Record<string, unknown>;
  @IsOptional()
  @ValidateNested()
  @Type(() => OnboardingInfoDto)
  @IsObject({ message: 'must be an object' })
  onboarding_info?: OnboardingInfoDto;
}
