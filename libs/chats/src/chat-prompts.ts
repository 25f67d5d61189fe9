// Fixed texts the chat commands insert into a conversation.

/** Workspace awareness for a chat created without a workspace (system, model-only). */
export const NO_WORKSPACE_AWARENESS =
  'This chat is not attached to a workspace. Tools that act on files or run commands need one: ' +
  'if the task calls for them, create a workspace first; otherwise answer from the conversation alone.';

/** The result recorded for a client-side tool call the user interrupted. */
export const TOOL_INTERRUPTED_BY_USER = 'Tool execution interrupted by user';
