// Unit tests of the subject catalogue: concrete subjects and wildcard patterns carry the
// prefix, parameters must be single safe tokens, and stream names are namespaced per prefix.
import { InvalidSubjectTokenError, SubjectCatalog, Subjects, SubjectSpec } from './subjects';

const cat = new SubjectCatalog('acme');

describe('SubjectCatalog.subject', () => {
  it('builds a parameterless subject under the prefix', () => {
    expect(cat.subject(Subjects.chatdWake)).toBe('acme.chatd.wake');
    expect(cat.subject(Subjects.configChanged)).toBe('acme.config.changed');
    expect(cat.subject(Subjects.telemetryFirstUser)).toBe('acme.telemetry.first_user');
  });

  it('substitutes each parameter in template order', () => {
    expect(cat.subject(Subjects.chatdControl, 'worker-1')).toBe('acme.chatd.control.worker-1');
    expect(cat.subject(Subjects.workspaceClaimed, 'ws_42')).toBe('acme.workspace.ws_42.claimed');
    expect(cat.subject(Subjects.deadLetter, 'TELEMETRY')).toBe('acme.dlq.TELEMETRY');
    const two: SubjectSpec<unknown, [a: string, b: string]> = {
      key: 't.two',
      transport: 'core',
      template: 'x.{a}.y.{b}',
    };
    expect(cat.subject(two, 'first', 'second')).toBe('acme.x.first.y.second');
  });

  it.each([
    ['a dot (would add a token)', 'a.b'],
    ['the single-token wildcard', '*'],
    ['the multi-token wildcard', '>'],
    ['an empty token', ''],
    ['a space', 'a b'],
    ['a leading space', ' a'],
    ['a tab', 'a\tb'],
    ['a wildcard inside a token', 'ab*'],
  ])('rejects a parameter containing %s', (_what, token) => {
    expect(() => cat.subject(Subjects.chatdControl, token)).toThrow(InvalidSubjectTokenError);
  });

  it('rejects a missing parameter', () => {
    const spec = Subjects.chatdControl as SubjectSpec<unknown, string[]>;
    expect(() => cat.subject(spec)).toThrow(InvalidSubjectTokenError);
  });

  it('names the subject key in the error', () => {
    expect(() => cat.subject(Subjects.workspaceClaimed, 'a.b')).toThrow(/workspace\.claimed/);
  });
});

describe('SubjectCatalog.pattern', () => {
  it('replaces every parameter with a single-token wildcard under the prefix', () => {
    expect(cat.pattern(Subjects.chatdControl)).toBe('acme.chatd.control.*');
    expect(cat.pattern(Subjects.workspaceClaimed)).toBe('acme.workspace.*.claimed');
    expect(cat.pattern(Subjects.deadLetter)).toBe('acme.dlq.*');
  });

  it('is the concrete subject for a parameterless spec', () => {
    expect(cat.pattern(Subjects.chatdWake)).toBe('acme.chatd.wake');
  });
});

describe('SubjectCatalog.absolute / relative', () => {
  it('round-trips a prefix-relative subject', () => {
    const abs = cat.absolute('chat.events.o1.c1');
    expect(abs).toBe('acme.chat.events.o1.c1');
    expect(cat.relative(abs)).toBe('chat.events.o1.c1');
  });

  it('rejects a subject outside the prefix, including one that only shares its leading characters', () => {
    expect(() => cat.relative('other.chatd.wake')).toThrow(InvalidSubjectTokenError);
    expect(() => cat.relative('acmeX.chatd.wake')).toThrow(InvalidSubjectTokenError);
    expect(() => cat.relative('acme')).toThrow(InvalidSubjectTokenError);
  });
});

describe('SubjectCatalog.streamName', () => {
  it('is the bare stream key under the default prefix agentmesh', () => {
    const def = new SubjectCatalog('agentmesh');
    expect(def.streamName('TELEMETRY')).toBe('TELEMETRY');
    expect(def.streamName('CHAT_EVENTS')).toBe('CHAT_EVENTS');
    expect(def.streamName('DEAD_LETTERS')).toBe('DEAD_LETTERS');
  });

  it('is namespaced by the upper-cased prefix under any other prefix', () => {
    expect(new SubjectCatalog('t1a2b').streamName('TELEMETRY')).toBe('T1A2B_TELEMETRY');
    expect(cat.streamName('AIBRIDGE')).toBe('ACME_AIBRIDGE');
  });

  it('replaces characters not allowed in stream names (dots) in the prefix', () => {
    expect(new SubjectCatalog('acme.prod').streamName('CHAT_EVENTS')).toBe('ACME_PROD_CHAT_EVENTS');
  });
});
