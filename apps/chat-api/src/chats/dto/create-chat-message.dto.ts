import { Allow, IsArray, IsOptional, IsString, IsUUID } from 'class-validator';

// Type checks only (stacked decorators run bottom-up: the type check is written last).
export class CreateChatMessageDto {
  @IsArray({ message: 'must be an array of input parts' })
  @IsOptional()
  content?: unknown[];

  @IsUUID('all', { message: 'must be a valid uuid' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  model_config_id?: string;

  /** Absent or null: unchanged; an array replaces. */
  @IsUUID('all', { each: true, message: 'must contain valid uuids' })
  @IsArray({ message: 'must be an array of MCP server ids' })
  @IsOptional()
  mcp_server_ids?: string[] | null;

  /** queue (default) | interrupt (else "Invalid busy_behavior value."). */
  @Allow()
  busy_behavior?: unknown;

  @Allow()
  plan_mode?: unknown;
}

export class EditChatMessageDto {
  @IsArray({ message: 'must be an array of input parts' })
  @IsOptional()
  content?: unknown[];
}
