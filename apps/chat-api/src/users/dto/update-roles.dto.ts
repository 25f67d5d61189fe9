import { ArrayMaxSize, IsArray, IsString } from 'class-validator';

export class UpdateRolesDto {
  @IsString({ each: true, message: 'must contain role names' })
  @ArrayMaxSize(64, { message: 'must list at most 64 roles' })
  @IsArray({ message: 'must be an array of role names' })
  roles!: string[];
}
