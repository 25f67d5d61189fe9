// The pure input rules: parts, titles, labels, prompts and enums.
import { ChatCommandError, ChatErrors } from './chat-errors';
import {
  chatSystemPrompt,
  fallbackChatTitle,
  labelProblems,
  normalizeTitle,
  parseChatInputParts,
  parseClientType,
  parseDynamicTools,
  parsePlanMode,
  partsText,
  runeLength,
  sanitizePrompt,
} from './chat-input';

function error(fn: () => unknown): ChatCommandError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChatCommandError);
    return e as ChatCommandError;
  }
  throw new Error('expected a ChatCommandError');
}

describe('parseChatInputParts', () => {
  it('requires content', () => {
    for (const raw of [undefined, null, []])
      expect(error(() => parseChatInputParts(raw)).message).toBe(ChatErrors.contentRequired);
  });

  it('keeps text as typed, normalises the type and drops unknown fields', () => {
    expect(
      parseChatInputParts([
        { type: ' Text ', text: ' hi ', file_id: '00000000-0000-0000-0000-000000000000', x: 1 },
      ]),
    ).toEqual([{ type: 'text', text: ' hi ' }]);
  });

  it('stores file references with their lines', () => {
    expect(
      parseChatInputParts([
        { type: 'file-reference', file_name: ' a.ts ', start_line: 2, end_line: 4, content: 'x' },
      ]),
    ).toEqual([{ type: 'file-reference', file_name: 'a.ts', start_line: 2, end_line: 4, content: 'x' }]);
  });

  it.each([
    [[{ type: 'text', text: ' \n' }], 'content[0].text cannot be empty.'],
    [[{ type: 'text', text: 'ok' }, 7], 'content[1] must be an object.'],
    [[{ type: 'video' }], 'content[0].type "video" is not supported.'],
    [[{}], 'content[0].type is required.'],
    [[{ type: 'file' }], 'content[0].file_id is required.'],
    [[{ type: 'file', file_id: 'x' }], 'content[0].file_id must be a valid UUID.'],
    [
      [{ type: 'file', file_id: '7b0e5c2a-1111-4222-8333-444455556666' }],
      'content[0].file_id: file 7b0e5c2a-1111-4222-8333-444455556666 not found.',
    ],
    [
      [{ type: 'file-reference', file_name: 'a', end_line: 1.5 }],
      'content[0].end_line must be a non-negative integer.',
    ],
    ['text', 'content must be an array of input parts.'],
  ])('refuses %j: %s', (raw, detail) => {
    const e = error(() => parseChatInputParts(raw));
    expect([e.message, e.detail]).toEqual([ChatErrors.invalidInputPart, detail]);
  });
});

describe('titles', () => {
  it.each([
    ['', 'New Chat'],
    ['  \n\t ', 'New Chat'],
    ['Fix the build', 'Fix the build'],
    ['a b c d e f', 'a b c d e f'],
    ['a b c d e f g', 'a b c d e f…'],
    ['é'.repeat(120), `${'é'.repeat(79)}…`],
  ])('fallback title case %#', (input, title) => {
    expect(fallbackChatTitle(input)).toBe(title);
    expect(runeLength(fallbackChatTitle(input))).toBeLessThanOrEqual(80);
  });

  it('joins the text parts only', () => {
    expect(
      partsText([
        { type: 'text', text: 'a' },
        { type: 'file-reference', file_name: 'x' },
        { type: 'text', text: 'b' },
      ]),
    ).toBe('a b');
  });

  it('normalises PATCH titles: trimmed, 1..200 runes', () => {
    expect(normalizeTitle('  hi  ')).toBe('hi');
    expect(normalizeTitle('😀'.repeat(200))).toBe('😀'.repeat(200));
    expect(error(() => normalizeTitle('   ')).message).toBe(ChatErrors.titleEmpty);
    expect(error(() => normalizeTitle('x'.repeat(201))).message).toBe(ChatErrors.titleTooLong);
  });
});

describe('prompts', () => {
  it('strips invisible and control characters but keeps newlines and tabs', () => {
    expect(sanitizePrompt('\u200bA\u0007\r\nB\tC\u202e\uFEFF ')).toBe('A\nB\tC');
  });

  it('limits the per-chat prompt to 10 000 characters after sanitizing', () => {
    expect(chatSystemPrompt(`${'p'.repeat(10_000)}\u200b`)).toHaveLength(10_000);
    expect(error(() => chatSystemPrompt('p'.repeat(10_001))).message).toBe(ChatErrors.systemPromptTooLong);
    expect(chatSystemPrompt(undefined)).toBe('');
  });
});

describe('labels', () => {
  it('accepts namespaced keys and bounded values', () => {
    expect(
      labelProblems({ 'github.repo': 'coder/coder', 'automation/pr-number': '42', a_b: 'x'.repeat(256) }),
    ).toEqual([]);
  });

  it.each([
    [{ '': 'v' }],
    [{ '-x': 'v' }],
    [{ 'a b': 'v' }],
    [{ ['k'.repeat(65)]: 'v' }],
    [{ k: '' }],
    [{ k: 'v'.repeat(257) }],
    [{ k: 5 }],
    [Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))],
    [[]],
  ])('refuses label set %#', (labels) => {
    expect(labelProblems(labels).length).toBeGreaterThan(0);
  });
});

describe('enums and dynamic tools', () => {
  it('parses plan_mode and client_type', () => {
    expect(parsePlanMode('plan')).toBe('plan');
    expect(parsePlanMode('')).toBeNull();
    expect(error(() => parsePlanMode('Plan')).message).toBe(ChatErrors.invalidPlanMode);
    expect(parseClientType(undefined)).toBe('api');
    expect(parseClientType('ui')).toBe('ui');
    expect(error(() => parseClientType('web')).message).toBe(ChatErrors.invalidClientType);
  });

  it('checks dynamic tools: count, unique non-empty names, schema objects', () => {
    expect(parseDynamicTools(undefined)).toBeNull();
    expect(parseDynamicTools([{ name: ' t ', input_schema: { type: 'object' } }])).toEqual([
      { name: 't', input_schema: { type: 'object' } },
    ]);
    const many = Array.from({ length: 251 }, (_, i) => ({ name: `t${i}`, input_schema: {} }));
    expect(error(() => parseDynamicTools(many)).message).toBe(ChatErrors.tooManyDynamicTools);
    for (const bad of [
      [{ name: '', input_schema: {} }],
      [
        { name: 'a', input_schema: {} },
        { name: 'a', input_schema: {} },
      ],
      [{ name: 'a' }],
    ])
      expect(error(() => parseDynamicTools(bad)).message).toBe(ChatErrors.invalidDynamicTools);
  });
});
