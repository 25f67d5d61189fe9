import { Allow, IsArray, IsObject, IsOptional, IsString, IsUUID } from 'class-validator';

// Type checks only (stacked decorators run bottom-up, so the type check is written last);
// the reference's rules and messages are applied by the service and the chat domain.
export class CreateChatDto {
  @IsUUID('all', { message: 'must be a valid uuid' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  organization_id?: string;

  /** ChatInputPart[]: each part is checked by parseChatInputParts (detail names content[i]). */
  @IsArray({ message: 'must be an array of input parts' })
  @IsOptional()
  content?: unknown[];

  @IsString({ message: 'must be a string' })
  @IsOptional()
  system_prompt?: string;

  @IsUUID('all', { message: 'must be a valid uuid' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  workspace_id?: string;

  @IsUUID('all', { message: 'must be a valid uuid' })
  @IsString({ message: 'must be a string' })
  @IsOptional()
  model_config_id?: string;

  @IsUUID('all', { each: true, message: 'must contain valid uuids' })
  @IsArray({ message: 'must be an array of MCP server ids' })
  @IsOptional()
  mcp_server_ids?: string[];

  @IsObject({ message: 'must be an object of strings' })
  @IsOptional()
  labels?: Record<string, unknown>;

  /** "" | "plan" (else "Invalid plan_mode value."). */
  @Allow()
  plan_mode?: unknown;

  /** ui | api (else "Invalid client_type."). */
  @Allow()
  client_type?: unknown;

  @IsArray({ message: 'must be an array of tool definitions' })
  @IsOptional()
  unsafe_dynamic_tools?: unknown[];
}
