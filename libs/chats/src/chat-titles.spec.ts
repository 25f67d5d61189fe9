import {
  buildTitleConversation,
  cleanTitle,
  extractTitleTurns,
  renderManualTitlePrompt,
  selectTitleTurnIndexes,
  TitleTurn,
} from './chat-titles.service';

const msg = (role: string, text?: string) => ({
  role,
  content: text === undefined ? [] : [{ type: 'text' as const, text }],
});

describe('extractTitleTurns', () => {
  it('keeps user and assistant text, skips empty messages and merges a multi-step answer', () => {
    expect(
      extractTitleTurns([
        msg('system', 'you are helpful'),
        msg('user', 'fix the build'),
        msg('assistant'),
        msg('assistant', 'Looking at the logs.'),
        msg('tool', 'ok'),
        msg('assistant', 'Fixed the import.'),
        msg('user', '  thanks  '),
      ]),
    ).toEqual([
      { role: 'user', text: 'fix the build' },
      { role: 'assistant', text: 'Looking at the logs.\nFixed the import.' },
      { role: 'user', text: 'thanks' },
    ]);
  });
});

describe('selectTitleTurnIndexes', () => {
  const turns = (n: number, firstUser = 0): TitleTurn[] =>
    Array.from({ length: n }, (_, i) => ({
      role: i >= firstUser && (i - firstUser) % 2 === 0 ? 'user' : 'assistant',
      text: `t${i}`,
    }));

  it.each([
    [0, 0, []],
    [1, 0, [0]],
    [4, 0, [0, 1, 2, 3]],
    [10, 0, [0, 7, 8, 9]],
    [10, 1, [1, 7, 8, 9]],
  ])('%i turns, first user turn at %i → %j', (n, firstUser, expected) => {
    expect(selectTitleTurnIndexes(turns(n, firstUser))).toEqual(expected);
  });
});

describe('buildTitleConversation', () => {
  const turns: TitleTurn[] = Array.from({ length: 9 }, (_, i) => ({
    role: i % 2 === 0 ? 'user' : 'assistant',
    text: `turn ${i}`,
  }));

  it('marks the skipped turns between the first user turn and the last three', () => {
    expect(buildTitleConversation(turns, [0, 6, 7, 8])).toBe(
      [
        'User: turn 0',
        '[... 5 earlier turns omitted ...]',
        'User: turn 6',
        'Assistant: turn 7',
        'User: turn 8',
      ].join('\n\n'),
    );
    expect(buildTitleConversation(turns, [0, 2])).toContain('[... 1 earlier turn omitted ...]');
  });

  it('stays within 6,000 runes however long the turns are', () => {
    const long: TitleTurn[] = [
      { role: 'user', text: '🙂'.repeat(10_000) },
      { role: 'assistant', text: 'b'.repeat(10_000) },
    ];
    const out = buildTitleConversation(long, [0, 1]);
    expect([...out].length).toBeLessThanOrEqual(6000);
    expect(out).toContain('Assistant: bbb');
  });
});

describe('renderManualTitlePrompt', () => {
  it('has the conversation sample and the latest user message, capped at 1,000 runes', () => {
    const prompt = renderManualTitlePrompt([
      { role: 'user', text: 'set up CI' },
      { role: 'assistant', text: 'done' },
      { role: 'user', text: 'x'.repeat(5000) },
    ]);
    expect(prompt).toMatch(/## Conversation sample\n\nUser: set up CI/);
    const latest = prompt.split('## Latest user message\n\n')[1].split('\n\n## Task')[0];
    expect([...latest].length).toBe(1000);
  });
});

describe('cleanTitle', () => {
  it.each([
    ['"Capital of France."', 'Capital of France'],
    ['Title: Debugging  the\nbuild', 'Debugging the build'],
    ['"Title: Streaming across replicas."', 'Streaming across replicas'],
    ['Title: "Streaming across replicas."', 'Streaming across replicas'],
    ['x'.repeat(100), `${'x'.repeat(79)}…`],
    ['   ', ''],
  ])('%j → %j', (raw, clean) => expect(cleanTitle(raw)).toBe(clean));
});
