// Folding stream parts into a step's content, as persisted for the assistant row.
import { StepAccumulator } from './step-accumulator';
import { EMPTY_USAGE } from './usage';

describe('StepAccumulator', () => {
  it('joins deltas per block and keeps blocks and tool calls in stream order', () => {
    const acc = new StepAccumulator();
    acc.add({ type: 'reasoning-delta', id: 'r', text: 'thin' });
    acc.add({ type: 'reasoning-delta', id: 'r', text: 'king' });
    acc.add({ type: 'reasoning-end', id: 'r', signature: 'sig' });
    acc.add({ type: 'text-delta', id: 't', text: 'Hel' });
    acc.add({ type: 'text-delta', id: 't', text: 'lo' });
    acc.add({ type: 'tool-call-start', toolCallId: 'c1', toolName: 'f' });
    acc.add({ type: 'tool-call-delta', toolCallId: 'c1', argsDelta: '{}' });
    acc.add({ type: 'tool-call', toolCallId: 'c1', toolName: 'f', args: '{}' });
    acc.add({ type: 'finish', finishReason: 'tool-calls', usage: EMPTY_USAGE, providerResponseId: 'resp_1' });
    const content = acc.content();
    expect(content.parts).toEqual([
      { type: 'reasoning', text: 'thinking', signature: 'sig' },
      { type: 'text', text: 'Hello' },
      { type: 'tool-call', toolCallId: 'c1', toolName: 'f', args: '{}' },
    ]);
    expect(content.toolCalls).toHaveLength(1);
    expect(content).toMatchObject({
      finishReason: 'tool-calls',
      providerResponseId: 'resp_1',
      usage: EMPTY_USAGE,
    });
  });

  it('keeps the partial text of an unfinished step and reports no usage for it', () => {
    const acc = new StepAccumulator();
    acc.add({ type: 'text-delta', id: 't', text: 'partial' });
    acc.add({ type: 'tool-call-start', toolCallId: 'c1', toolName: 'f' });
    const content = acc.content();
    expect(content.parts).toEqual([{ type: 'text', text: 'partial' }]);
    expect(content.usage).toBeUndefined();
  });

  it('keeps two text blocks with different ids apart', () => {
    const acc = new StepAccumulator();
    acc.add({ type: 'text-delta', id: 'a', text: 'one' });
    acc.add({ type: 'text-delta', id: 'b', text: 'two' });
    expect(acc.content().parts).toEqual([
      { type: 'text', text: 'one' },
      { type: 'text', text: 'two' },
    ]);
  });
});
