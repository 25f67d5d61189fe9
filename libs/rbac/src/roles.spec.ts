// Role lookup and expansion, and the headline rules as users actually hold roles (site roles
// plus the implicit member, org roles plus the implicit organization-member).
import {
  authorize,
  expandRoles,
  roleByName,
  scopeFromNames,
  slimRole,
  UnknownRoleError,
  validateRoleNames,
} from './index';
import { ME, obj, ORG1, ORG2, OTHER, user } from '../test/fixtures';

const chat = (owner: string, orgOwner: string) =>
  obj('chat', { id: '0d000000-0000-4000-8000-0000000000c1', owner, orgOwner });

describe('roleByName', () => {
  it('finds site roles without an org and org roles only with one', () => {
    expect(roleByName('owner')?.displayName).toBe('Owner');
    expect(roleByName('owner', ORG1)).toBeUndefined();
    expect(roleByName('organization-admin')).toBeUndefined();
    expect(roleByName('organization-admin', '')).toBeUndefined();
    const admin = roleByName('organization-admin', ORG1);
    expect(admin).toMatchObject({
      name: 'organization-admin',
      displayName: 'Organization Admin',
      organizationId: ORG1,
    });
    expect(Object.keys(admin?.byOrgId ?? {})).toEqual([ORG1]);
  });

  it.each([
    ['member', undefined, 'Member'],
    ['auditor', undefined, 'Auditor'],
    ['template-admin', undefined, 'Template Admin'],
    ['user-admin', undefined, 'User Admin'],
    ['organization-member', ORG1, 'Organization Member'],
    ['organization-auditor', ORG1, 'Organization Auditor'],
    ['organization-user-admin', ORG1, 'Organization User Admin'],
    ['organization-template-admin', ORG1, 'Organization Template Admin'],
    ['organization-workspace-creation-ban', ORG1, 'Organization Workspace Creation Ban'],
    ['organization-workspace-access', ORG1, 'Organization Workspace Access'],
    ['organization-service-account', ORG1, 'Organization Service Account'],
    ['agents-access', ORG1, 'Coder Agents User'],
  ])('%s is displayed as %s', (name, org, display) => {
    expect(roleByName(name, org)?.displayName).toBe(display);
  });
});

describe('expandRoles', () => {
  it('adds the implicit member and organization-member roles once', () => {
    const roles = expandRoles(['member', 'auditor'], {
      [ORG1]: ['organization-member', 'agents-access'],
      [ORG2]: [],
    });
    expect(roles.map((r) => [r.name, r.organizationId])).toEqual([
      ['member', undefined],
      ['auditor', undefined],
      ['organization-member', ORG1],
      ['agents-access', ORG1],
      ['organization-member', ORG2],
    ]);
  });

  it('rejects an org role stored as a site role and an unknown org role', () => {
    expect(() => expandRoles(['organization-admin'])).toThrow(UnknownRoleError);
    expect(() => expandRoles([], { [ORG1]: ['owner'] })).toThrow(
      `unknown role "owner" in organization ${ORG1}`,
    );
  });
});

describe('validateRoleNames', () => {
  it('returns the names that are not roles of the scope', () => {
    expect(validateRoleNames(['owner', 'auditor', 'agents-access', 'bogus'], 'site')).toEqual([
      'agents-access',
      'bogus',
    ]);
    expect(validateRoleNames(['organization-admin', 'agents-access', 'owner'], 'organization')).toEqual([
      'owner',
    ]);
    expect(validateRoleNames([], 'site')).toEqual([]);
  });
});

describe('slimRole', () => {
  it('gives the API shape, with organization_id only for org roles', () => {
    expect(slimRole('owner')).toEqual({ name: 'owner', display_name: 'Owner' });
    expect(slimRole('agents-access', ORG1)).toEqual({
      name: 'agents-access',
      display_name: 'Coder Agents User',
      organization_id: ORG1,
    });
    expect(slimRole('custom-thing', ORG1)).toEqual({
      name: 'custom-thing',
      display_name: '',
      organization_id: ORG1,
    });
  });
});

describe('chat access (agents-access era)', () => {
  const plain = user([], { [ORG1]: [] });
  const agent = user([], { [ORG1]: ['agents-access'], [ORG2]: [] });

  it('a member without agents-access can neither create nor read chats, even their own', () => {
    expect(authorize(plain, 'create', chat(ME, ORG1))).toBe(false);
    expect(authorize(plain, 'read', chat(ME, ORG1))).toBe(false);
    expect(authorize(plain, 'read', chat(ME, ''))).toBe(false);
    expect(authorize(plain, 'create', obj('chat', { owner: ME, anyOrg: true }))).toBe(false);
  });

  it('agents-access lets a member create, read, update and delete their own chats in that org', () => {
    for (const action of ['create', 'read', 'update', 'delete'] as const) {
      expect(authorize(agent, action, chat(ME, ORG1))).toBe(true);
    }
    expect(authorize(agent, 'create', obj('chat', { owner: ME, anyOrg: true }))).toBe(true);
  });

  it("agents-access does not reach other users' chats, nor orgs where it is not held", () => {
    expect(authorize(agent, 'read', chat(OTHER, ORG1))).toBe(false);
    expect(authorize(agent, 'create', chat(ME, ORG2))).toBe(false);
    expect(authorize(agent, 'read', chat(ME, ''))).toBe(false);
  });

  it('owners and org admins reach every chat (the admin only in its org)', () => {
    const owner = user(['owner'], {});
    expect(authorize(owner, 'create', chat(ME, ORG2))).toBe(true);
    expect(authorize(owner, 'read', chat(OTHER, ORG1))).toBe(true);
    const admin = user([], { [ORG1]: ['organization-admin'] });
    expect(authorize(admin, 'delete', chat(OTHER, ORG1))).toBe(true);
    expect(authorize(admin, 'read', chat(OTHER, ORG2))).toBe(false);
  });

  it('a service account gets no chats and no chat projects', () => {
    const bot = user([], { [ORG1]: ['organization-service-account'] });
    expect(authorize(bot, 'read', obj('chat_project', { owner: ME, orgOwner: ORG1 }))).toBe(true);
    const onlyService = { ...bot, roles: bot.roles.filter((r) => r.name !== 'organization-member') };
    expect(authorize(onlyService, 'read', obj('chat_project', { owner: ME, orgOwner: ORG1 }))).toBe(false);
    expect(authorize(onlyService, 'create', chat(ME, ORG1))).toBe(false);
  });
});

describe('built-in rules', () => {
  const secret = (owner: string) => obj('user_secret', { id: '0d000000-0000-4000-8000-0000000000e1', owner });

  it("an owner cannot read other users' secrets but keeps their own", () => {
    const owner = user(['owner'], { [ORG1]: [] });
    expect(authorize(owner, 'read', secret(OTHER))).toBe(false);
    expect(authorize(owner, 'update', secret(OTHER))).toBe(false);
    expect(authorize(owner, 'read', secret(ME))).toBe(true);
  });

  it('user-level grants never reach org objects: a secret placed in an org is out of reach', () => {
    const member = user([], { [ORG1]: [] });
    expect(authorize(member, 'read', secret(ME))).toBe(true);
    expect(authorize(member, 'read', obj('user_secret', { owner: ME, orgOwner: ORG1 }))).toBe(false);
  });

  it('an auditor reads AI Bridge interceptions that members may only write', () => {
    const interception = obj('aibridge_interception', { owner: OTHER, orgOwner: ORG1 });
    expect(authorize(user(['auditor'], {}), 'read', interception)).toBe(true);
    const member = user([], { [ORG1]: [] });
    const mine = obj('aibridge_interception', { owner: ME, orgOwner: ORG1 });
    expect(authorize(member, 'create', mine)).toBe(true);
    expect(authorize(member, 'read', mine)).toBe(false);
  });

  it('organization-workspace-creation-ban beats organization-admin within its org only', () => {
    const banned = user([], {
      [ORG1]: ['organization-admin', 'organization-workspace-creation-ban'],
      [ORG2]: ['organization-admin'],
    });
    const ws = (org: string) => obj('workspace', { owner: OTHER, orgOwner: org });
    expect(authorize(banned, 'create', ws(ORG1))).toBe(false);
    expect(authorize(banned, 'delete', ws(ORG1))).toBe(false);
    expect(authorize(banned, 'read', ws(ORG1))).toBe(true);
    expect(authorize(banned, 'create', ws(ORG2))).toBe(true);
  });

  it("the creation ban also vetoes the member's own workspace access", () => {
    const member = user([], {
      [ORG1]: ['organization-workspace-access', 'organization-workspace-creation-ban'],
    });
    const mine = obj('workspace', { owner: ME, orgOwner: ORG1 });
    expect(authorize(member, 'create', mine)).toBe(false);
    expect(authorize(member, 'ssh', mine)).toBe(true);
  });

  it('org admins cannot exec into workspaces', () => {
    const admin = user([], { [ORG1]: ['organization-admin'] });
    const ws = obj('workspace', { owner: OTHER, orgOwner: ORG1 });
    expect(authorize(admin, 'ssh', ws)).toBe(false);
    expect(authorize(admin, 'application_connect', ws)).toBe(false);
    expect(authorize(admin, 'stop', ws)).toBe(true);
  });

  it("a scope restricts an owner's key to what it names", () => {
    const scoped = user(['owner'], {}, { scope: scopeFromNames(['chat:read']) });
    expect(authorize(scoped, 'read', chat(OTHER, ORG1))).toBe(true);
    expect(authorize(scoped, 'delete', chat(OTHER, ORG1))).toBe(false);
    expect(authorize(scoped, 'read', obj('template', { orgOwner: ORG1 }))).toBe(false);
  });
});
