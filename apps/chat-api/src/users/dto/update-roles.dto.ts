import { ArrayMaxSize, IsArray, IsString } from 'class-validator';

export class UpdateRolesDto {
  @IsArray({ message: 'must be an array of role names' })
  @ArrayMaxSize(64, { message: 'must list at most 64 roles' })
  @IsString({ each: true, message: 'must contain role names' })
  roles!: string[];
}
