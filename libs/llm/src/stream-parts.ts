// The stream-part model a worker consumes and publishes: a small, provider-neutral subset
// of the AI SDK's stream (text, reasoning, tool-call input as it streams, the complete tool
// call, and a final part with usage and the provider's response id). Deltas of one text or
// reasoning block share an `id`; tool-call deltas share the `toolCallId`.
import type { FinishReason } from 'ai';
import type { TokenUsage } from './usage';

export type LlmFinishReason = FinishReason;

export type LlmStreamPart =
  | { type: 'text-delta'; id: string; text: string }
  | { type: 'reasoning-delta'; id: string; text: string }
  /** A reasoning block ended; Anthropic signs thinking so it can be sent back later. */
  | { type: 'reasoning-end'; id: string; signature?: string }
  | { type: 'tool-call-start'; toolCallId: string; toolName: string }
  | { type: 'tool-call-delta'; toolCallId: string; argsDelta: string }
  /** The complete call; `args` is JSON text, as the reference stores and sends it. */
  | { type: 'tool-call'; toolCallId: string; toolName: string; args: string; providerExecuted?: boolean }
  | {
      type: 'finish';
      finishReason: LlmFinishReason;
      usage: TokenUsage;
      /** The provider's id for this response (`chatcmpl-…`, `resp_…`, `msg_…`). */
      providerResponseId?: string;
      modelId?: string;
    };
