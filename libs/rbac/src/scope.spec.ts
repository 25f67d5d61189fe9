// Scope names: which are accepted, and what an unknown one does.
import { isScopeName, SCOPE_ALL, scopeFromNames } from './index';

describe('scopes', () => {
  it.each([
    'all',
    'coder:all',
    'application_connect',
    'coder:application_connect',
    'chat:read',
    'chat:*',
    'user_secret:delete',
  ])('accepts %s', (name) => expect(isScopeName(name)).toBe(true));

  it.each(['', 'chat', 'chat:ssh', 'nope:read', 'chat:read:extra', 'coder:chat:read', 'coder:workspaces.*'])(
    'rejects %s',
    (name) => expect(isScopeName(name)).toBe(false),
  );

  it('throws on an unknown stored scope instead of guessing', () => {
    expect(() => scopeFromNames(['chat:read', 'chat:fly'])).toThrow('unknown API key scope "chat:fly"');
  });

  it('defaults the allow list to everything and keeps a given one', () => {
    expect(SCOPE_ALL.allowList).toEqual([{ type: '*', id: '*' }]);
    const listed = [{ type: 'chat' as const, id: '0d000000-0000-4000-8000-0000000000c1' }];
    expect(scopeFromNames(['chat:read'], listed).allowList).toEqual(listed);
  });
});
