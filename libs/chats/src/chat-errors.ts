// Errors of the chat commands. Each carries a code that the HTTP edge maps to a status (one
// table there); messages are the reference's, since clients match on them.
import type { ValidationError } from '@agentmesh/contracts';
import { ErrorMessages } from '@agentmesh/contracts';

export type ChatErrorCode = 'bad_request' | 'not_found' | 'conflict' | 'rate_limited' | 'upstream';

export class ChatCommandError extends Error {
  constructor(
    readonly code: ChatErrorCode,
    message: string,
    readonly detail?: string,
    readonly validations?: ValidationError[],
  ) {
    super(message);
  }

  static badRequest(message: string, detail?: string, validations?: ValidationError[]): ChatCommandError {
    return new ChatCommandError('bad_request', message, detail, validations);
  }

  /** The standard 404: the caller must not learn whether the chat exists. */
  static chatNotFound(): ChatCommandError {
    return new ChatCommandError('not_found', ErrorMessages.resourceNotFound);
  }
}

/** Messages clients match on, spelled once. */
export const ChatErrors = {
  contentRequired: 'Content is required.',
  invalidInputPart: 'Invalid input part.',
  systemPromptTooLong: 'System prompt exceeds maximum length.',
  invalidModelConfig: 'Invalid model config ID.',
  noDefaultModelConfig: 'No default chat model config is configured.',
  invalidLabels: 'Invalid labels.',
  invalidMcpServers: 'One or more MCP server IDs are invalid.',
  workspaceNotFound: 'Workspace not found or you do not have access to this resource',
  invalidPlanMode: 'Invalid plan_mode value.',
  invalidClientType: 'Invalid client_type.',
  tooManyDynamicTools: 'Too many dynamic tools.',
  invalidDynamicTools: 'Invalid dynamic tools.',
  titleEmpty: 'Title cannot be empty.',
  titleTooLong: 'Title must be at most 200 characters.',
  alreadyArchived: 'Chat is already archived.',
  alreadyUnarchived: 'Chat is already not archived.',
  parentArchived: 'Cannot unarchive a chat whose parent chat is archived.',
  pinNegative: 'Pin order must be non-negative.',
  pinArchived: 'Cannot pin an archived chat.',
  chatArchived: 'Chat is archived.',
  invalidBusyBehavior: 'Invalid busy_behavior value.',
  queueFull: 'Message queue is full.',
  messageNotFound: 'Chat message not found.',
  onlyUserMessages: 'Only user messages can be edited.',
  queuedMessageNotFound: 'Queued message not found.',
  titleRegenerationInProgress: 'Title regeneration already in progress for this chat.',
  titleRegenerationFailed: 'Failed to regenerate chat title.',
} as const;
