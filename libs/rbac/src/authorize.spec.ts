// The evaluation rules of authorize(), checked with small hand-made roles so each test isolates
// one rule of the ladder, the ACLs or the scope.
import { authorize, scopeFromNames, type Permission, type Role } from './index';
import { GROUP1, GROUP2, ME, obj, ORG1, ORG2, OTHER, subject } from '../test/fixtures';

const grant = (resourceType: Permission['resourceType'], action: Permission['action']): Permission => ({
  negate: false,
  resourceType,
  action,
});
const veto = (resourceType: Permission['resourceType'], action: Permission['action']): Permission => ({
  negate: true,
  resourceType,
  action,
});

function role(parts: Partial<Omit<Role, 'name' | 'displayName'>>): Role {
  return { name: 'test', displayName: 'Test', site: [], user: [], byOrgId: {}, ...parts };
}
const inOrg = (org: string, perms: { org?: Permission[]; member?: Permission[] }) =>
  role({ byOrgId: { [org]: { org: perms.org ?? [], member: perms.member ?? [] } } });

const CHAT = '0d000000-0000-4000-8000-0000000000c1';
const myChatIn = (org: string) => obj('chat', { id: CHAT, owner: ME, orgOwner: org });

describe('authorize: role ladder', () => {
  it('a site grant reaches every object, whoever owns it and wherever it is', () => {
    const who = subject([role({ site: [grant('chat', 'read')] })]);
    expect(authorize(who, 'read', obj('chat', { owner: OTHER, orgOwner: ORG2 }))).toBe(true);
    expect(authorize(who, 'read', obj('chat'))).toBe(true);
    expect(authorize(who, 'update', obj('chat'))).toBe(false);
  });

  it('wildcards match any type and any action', () => {
    const who = subject([role({ site: [grant('*', 'read'), grant('file', '*')] })]);
    expect(authorize(who, 'read', obj('template'))).toBe(true);
    expect(authorize(who, 'create', obj('file'))).toBe(true);
    expect(authorize(who, 'create', obj('template'))).toBe(false);
  });

  it("one role's site negation outranks another role's site grant", () => {
    const who = subject([role({ site: [grant('*', '*')] }), role({ site: [veto('chat', 'delete')] })]);
    expect(authorize(who, 'delete', myChatIn(ORG1))).toBe(false);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(true);
  });

  it('a site negation blocks user, org and member grants', () => {
    const who = subject([
      role({ site: [veto('chat', 'read')], user: [grant('chat', 'read')] }),
      inOrg(ORG1, { org: [grant('chat', 'read')], member: [grant('chat', 'read')] }),
    ]);
    expect(authorize(who, 'read', obj('chat', { owner: ME }))).toBe(false);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(false);
  });

  it('user-level grants reach only objects the subject owns that belong to no org', () => {
    const who = subject([role({ user: [grant('user_secret', '*')] })]);
    expect(authorize(who, 'read', obj('user_secret', { owner: ME }))).toBe(true);
    expect(authorize(who, 'read', obj('user_secret', { owner: OTHER }))).toBe(false);
    expect(authorize(who, 'read', obj('user_secret', { owner: ME, orgOwner: ORG1 }))).toBe(false);
    expect(authorize(who, 'read', obj('user_secret'))).toBe(false);
  });

  it('org-level grants reach every object of that org and no other', () => {
    const who = subject([inOrg(ORG1, { org: [grant('chat', 'read')] })]);
    expect(authorize(who, 'read', obj('chat', { owner: OTHER, orgOwner: ORG1 }))).toBe(true);
    expect(authorize(who, 'read', obj('chat', { orgOwner: ORG1 }))).toBe(true);
    expect(authorize(who, 'read', obj('chat', { owner: ME, orgOwner: ORG2 }))).toBe(false);
    expect(authorize(who, 'read', obj('chat', { owner: ME }))).toBe(false);
  });

  it('member-level grants reach only owned objects in that org', () => {
    const who = subject([inOrg(ORG1, { member: [grant('chat', 'read')] })]);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(true);
    expect(authorize(who, 'read', obj('chat', { owner: OTHER, orgOwner: ORG1 }))).toBe(false);
    expect(authorize(who, 'read', myChatIn(ORG2))).toBe(false);
    expect(authorize(who, 'read', obj('chat', { owner: ME }))).toBe(false);
  });

  it('an org negation blocks the member level of that org only', () => {
    const who = subject([
      inOrg(ORG1, { org: [veto('chat', 'read')], member: [grant('chat', 'read')] }),
      inOrg(ORG2, { member: [grant('chat', 'read')] }),
    ]);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(false);
    expect(authorize(who, 'read', myChatIn(ORG2))).toBe(true);
  });

  it('an org negation does not block a site grant', () => {
    const who = subject([
      role({ site: [grant('chat', 'read')] }),
      inOrg(ORG1, { org: [veto('chat', 'read')] }),
    ]);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(true);
  });

  it('a user-level negation does not block org grants', () => {
    const who = subject([
      role({ user: [veto('chat', 'read')] }),
      inOrg(ORG1, { org: [grant('chat', 'read')] }),
    ]);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(true);
  });

  it('anyOrg takes the best org vote among the subject orgs and never the user level', () => {
    const who = subject([
      role({ user: [grant('chat', 'create')] }),
      inOrg(ORG1, { org: [veto('chat', 'create')] }),
      inOrg(ORG2, { member: [grant('chat', 'create')] }),
    ]);
    expect(authorize(who, 'create', obj('chat', { owner: ME, anyOrg: true }))).toBe(true);
    const onlyUser = subject([role({ user: [grant('chat', 'create')] })]);
    expect(authorize(onlyUser, 'create', obj('chat', { owner: ME, anyOrg: true }))).toBe(false);
    expect(authorize(onlyUser, 'create', obj('chat', { owner: ME }))).toBe(true);
  });

  it('denies an action the resource type does not have, even to a wildcard role', () => {
    const who = subject([role({ site: [grant('*', '*')] })]);
    expect(authorize(who, 'ssh' as 'read', obj('chat'))).toBe(false);
  });
});

describe('authorize: ACLs', () => {
  const nobody = subject([inOrg(ORG1, {})], { groups: [GROUP1] });

  it('a user ACL entry grants its actions, and * grants all', () => {
    const shared = obj('chat', { owner: OTHER, orgOwner: ORG2, aclUserList: { [ME]: ['read'] } });
    expect(authorize(nobody, 'read', shared)).toBe(true);
    expect(authorize(nobody, 'update', shared)).toBe(false);
    expect(authorize(nobody, 'delete', { ...shared, aclUserList: { [ME]: ['*'] } })).toBe(true);
    expect(authorize(nobody, 'read', { ...shared, aclUserList: { [OTHER]: ['read'] } })).toBe(false);
  });

  it('a group ACL entry grants members of the group who belong to the object org', () => {
    const shared = obj('chat', { owner: OTHER, orgOwner: ORG1, aclGroupList: { [GROUP1]: ['read'] } });
    expect(authorize(nobody, 'read', shared)).toBe(true);
    expect(authorize(nobody, 'read', { ...shared, aclGroupList: { [GROUP2]: ['read'] } })).toBe(false);
    expect(authorize(nobody, 'read', { ...shared, orgOwner: ORG2 })).toBe(false);
  });

  it('the Everyone entry (keyed by the org id) grants every member of that org', () => {
    const shared = obj('chat', { owner: OTHER, orgOwner: ORG1, aclGroupList: { [ORG1]: ['read'] } });
    expect(authorize(subject([inOrg(ORG1, {})]), 'read', shared)).toBe(true);
    expect(authorize(subject([inOrg(ORG2, {})]), 'read', shared)).toBe(false);
    expect(authorize(subject([inOrg(ORG2, {})]), 'read', { ...shared, orgOwner: ORG2 })).toBe(false);
  });

  it('an ACL grant stands even when the roles veto the action', () => {
    const vetoed = subject([role({ site: [veto('chat', 'read')] })]);
    expect(authorize(vetoed, 'read', obj('chat', { aclUserList: { [ME]: ['read'] } }))).toBe(true);
  });
});

describe('authorize: scope', () => {
  const admin = (names: string[], allowList?: { type: 'chat' | '*'; id: string }[]) =>
    subject([role({ site: [grant('*', '*')] })], { scope: scopeFromNames(names, allowList) });

  it('a low-level scope limits a site admin to that action', () => {
    expect(authorize(admin(['chat:read']), 'read', myChatIn(ORG1))).toBe(true);
    expect(authorize(admin(['chat:read']), 'update', myChatIn(ORG1))).toBe(false);
    expect(authorize(admin(['chat:read']), 'read', obj('template'))).toBe(false);
    expect(authorize(admin(['chat:*']), 'delete', myChatIn(ORG1))).toBe(true);
  });

  it('the application_connect scope allows only application_connect on workspaces', () => {
    const who = admin(['coder:application_connect']);
    expect(authorize(who, 'application_connect', obj('workspace', { owner: ME }))).toBe(true);
    expect(authorize(who, 'ssh', obj('workspace', { owner: ME }))).toBe(false);
    expect(authorize(who, 'read', obj('workspace', { owner: ME }))).toBe(false);
  });

  it('the scope never adds permissions the roles lack', () => {
    const who = subject([], { scope: scopeFromNames(['all']) });
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(false);
  });

  it('the allow list admits only the listed objects, with * as a wildcard', () => {
    const who = admin(['all'], [{ type: 'chat', id: CHAT }]);
    expect(authorize(who, 'read', myChatIn(ORG1))).toBe(true);
    expect(authorize(who, 'read', { ...myChatIn(ORG1), id: OTHER })).toBe(false);
    expect(authorize(who, 'read', obj('template', { id: CHAT }))).toBe(false);
    expect(authorize(admin(['all'], [{ type: 'chat', id: '*' }]), 'read', myChatIn(ORG2))).toBe(true);
    expect(authorize(admin(['all'], [{ type: '*', id: CHAT }]), 'read', obj('template', { id: CHAT }))).toBe(
      true,
    );
  });

  it('the scope also bounds ACL grants', () => {
    const who = subject([], { scope: scopeFromNames(['chat:read']) });
    const shared = obj('chat', { aclUserList: { [ME]: ['*'] } });
    expect(authorize(who, 'read', shared)).toBe(true);
    expect(authorize(who, 'update', shared)).toBe(false);
  });
});
