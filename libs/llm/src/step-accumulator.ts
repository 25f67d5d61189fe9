// Folds a step's stream parts into its content, in the order the model produced it: text
// and reasoning blocks (deltas joined per block id) and completed tool calls, plus usage,
// finish reason and response id once the step finishes. The worker persists this as the
// assistant row — also for an interrupted step, whose partial text must be kept.
import type { LlmFinishReason, LlmStreamPart } from './stream-parts';
import type { TokenUsage } from './usage';

export type LlmContentPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string; signature?: string }
  | { type: 'tool-call'; toolCallId: string; toolName: string; args: string; providerExecuted?: boolean };

export interface LlmStepContent {
  parts: LlmContentPart[];
  toolCalls: Extract<LlmContentPart, { type: 'tool-call' }>[];
  /** Set once the step finished. */
  usage?: TokenUsage;
  finishReason?: LlmFinishReason;
  providerResponseId?: string;
}

export class StepAccumulator {
  private readonly parts: LlmContentPart[] = [];
  /** Open text/reasoning blocks by stream id. */
  private readonly blocks = new Map<string, LlmContentPart & { type: 'text' | 'reasoning' }>();
  private finish?: Extract<LlmStreamPart, { type: 'finish' }>;

  add(part: LlmStreamPart): void {
    switch (part.type) {
      case 'text-delta':
      case 'reasoning-delta': {
        const kind = part.type === 'text-delta' ? 'text' : 'reasoning';
        const key = `${kind}:${part.id}`;
        const block = this.blocks.get(key);
        if (block) block.text += part.text;
        else {
          const created = { type: kind, text: part.text } as LlmContentPart & { type: 'text' | 'reasoning' };
          this.blocks.set(key, created);
          this.parts.push(created);
        }
        return;
      }
      case 'reasoning-end': {
        const block = this.blocks.get(`reasoning:${part.id}`);
        if (block && block.type === 'reasoning' && part.signature) block.signature = part.signature;
        return;
      }
      case 'tool-call':
        this.parts.push({
          type: 'tool-call',
          toolCallId: part.toolCallId,
          toolName: part.toolName,
          args: part.args,
          ...(part.providerExecuted ? { providerExecuted: true } : {}),
        });
        return;
      case 'finish':
        this.finish = part;
        return;
      default:
        // Tool-call starts and argument deltas are for live display; the complete call counts.
        return;
    }
  }

  content(): LlmStepContent {
    const parts = this.parts.map((part) => ({ ...part }));
    return {
      parts,
      toolCalls: parts.filter(
        (part): part is Extract<LlmContentPart, { type: 'tool-call' }> => part.type === 'tool-call',
      ),
      ...(this.finish
        ? {
            usage: this.finish.usage,
            finishReason: this.finish.finishReason,
            ...(this.finish.providerResponseId ? { providerResponseId: this.finish.providerResponseId } : {}),
          }
        : {}),
    };
  }
}
