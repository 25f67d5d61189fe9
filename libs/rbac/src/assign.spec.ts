// Who may assign which roles: the name rules per actor role, and the combined check that also
// requires assign/unassign on assign_role / assign_org_role.
import {
  canAssignRole,
  changeRoleSet,
  checkRoleChange,
  CUSTOM_ORGANIZATION_ROLE,
  CUSTOM_SITE_ROLE,
  expandRoles,
  scopeFromNames,
} from './index';
import { ORG1, ORG2, user } from '../test/fixtures';

const SITE = ['owner', 'member', 'auditor', 'template-admin', 'user-admin'];
const ORG = [
  'organization-admin',
  'organization-member',
  'organization-auditor',
  'organization-user-admin',
  'organization-template-admin',
  'organization-workspace-creation-ban',
  'organization-workspace-access',
  'organization-service-account',
  'agents-access',
];

/** Roles each actor may assign, as the rules table states them (nothing else is assignable). */
const ASSIGNABLE: Record<string, { site: string[]; org: string[] }> = {
  owner: {
    site: ['owner', 'member', 'auditor', 'template-admin', 'user-admin', CUSTOM_SITE_ROLE],
    org: ORG.filter((r) => r !== 'organization-service-account').concat(CUSTOM_ORGANIZATION_ROLE),
  },
  'user-admin': {
    site: ['member'],
    org: ['organization-member', 'organization-workspace-access', 'agents-access'],
  },
  member: { site: [], org: [] },
  auditor: { site: [], org: [] },
  'template-admin': { site: [], org: [] },
  'organization-admin': {
    site: [],
    org: ORG.filter((r) => r !== 'organization-service-account').concat(CUSTOM_ORGANIZATION_ROLE),
  },
  'organization-user-admin': {
    site: [],
    org: ['organization-member', 'organization-workspace-access', 'agents-access'],
  },
  'organization-auditor': { site: [], org: [] },
  'organization-template-admin': { site: [], org: [] },
  'organization-member': { site: [], org: [] },
  'organization-workspace-access': { site: [], org: [] },
  'organization-workspace-creation-ban': { site: [], org: [] },
  'organization-service-account': { site: [], org: [] },
  'agents-access': { site: [], org: [] },
};

const actorRoles = (actor: string) =>
  (SITE.includes(actor) ? expandRoles([actor]) : expandRoles([], { [ORG1]: [actor] }))
    // Strip the implicit roles so each actor role is tested alone.
    .filter((r) => r.name === actor);

describe('canAssignRole', () => {
  it.each(Object.keys(ASSIGNABLE))('%s may assign exactly its listed roles in ORG1', (actor) => {
    const roles = actorRoles(actor);
    const candidates = [...SITE, CUSTOM_SITE_ROLE, ...ORG, CUSTOM_ORGANIZATION_ROLE];
    const site = candidates.filter((r) => canAssignRole(roles, r));
    const org = candidates.filter((r) => canAssignRole(roles, r, ORG1));
    // Name rules only: a site actor's list applies with or without an org; an org-scoped
    // actor's list applies only inside its own org.
    const expected = [...ASSIGNABLE[actor].site, ...ASSIGNABLE[actor].org].sort();
    expect(org.sort()).toEqual(expected);
    expect(site.sort()).toEqual(ORG.includes(actor) ? [] : expected);
  });

  it('an org role held in one org gives no assignment rights in another', () => {
    const admin = expandRoles([], { [ORG1]: ['organization-admin'] });
    expect(canAssignRole(admin, 'organization-auditor', ORG1)).toBe(true);
    expect(canAssignRole(admin, 'organization-auditor', ORG2)).toBe(false);
  });
});

describe('changeRoleSet', () => {
  it('splits an update into added and removed roles, ignoring duplicates and order', () => {
    expect(changeRoleSet(['a', 'b', 'b'], ['c', 'b', 'c'])).toEqual({ added: ['c'], removed: ['a'] });
    expect(changeRoleSet(['a'], ['a'])).toEqual({ added: [], removed: [] });
  });
});

describe('checkRoleChange', () => {
  it('lets an owner change any site role', () => {
    expect(checkRoleChange(user(['owner'], {}), ['auditor'], ['owner', 'user-admin'])).toBeUndefined();
  });

  it('lets a user admin grant member-level roles but not owner', () => {
    const admin = user(['user-admin'], {});
    expect(checkRoleChange(admin, [], ['agents-access'], ORG2)).toBeUndefined();
    expect(checkRoleChange(admin, ['auditor'], ['owner'])).toEqual({ role: 'owner', action: 'assign' });
    expect(checkRoleChange(admin, ['auditor'], [])).toEqual({ role: 'auditor', action: 'unassign' });
  });

  it('lets an org admin manage org roles in its org only, and never site roles', () => {
    const admin = user([], { [ORG1]: ['organization-admin'] });
    expect(
      checkRoleChange(admin, ['organization-auditor'], ['agents-access', 'organization-admin'], ORG1),
    ).toBeUndefined();
    expect(checkRoleChange(admin, [], ['agents-access'], ORG2)).toEqual({
      role: 'agents-access',
      action: 'assign',
    });
    expect(checkRoleChange(admin, [], ['organization-service-account'], ORG1)).toEqual({
      role: 'organization-service-account',
      action: 'assign',
    });
    expect(checkRoleChange(admin, [], ['auditor'])).toEqual({ role: 'auditor', action: 'assign' });
  });

  it('lets an org user admin grant and revoke agents-access but not organization-admin', () => {
    const admin = user([], { [ORG1]: ['organization-user-admin'] });
    expect(
      checkRoleChange(admin, ['agents-access'], ['organization-workspace-access'], ORG1),
    ).toBeUndefined();
    expect(checkRoleChange(admin, [], ['organization-admin'], ORG1)).toEqual({
      role: 'organization-admin',
      action: 'assign',
    });
  });

  it('refuses members, auditors and template admins any change', () => {
    for (const actor of [
      user([], { [ORG1]: [] }),
      user(['auditor'], {}),
      user(['template-admin'], { [ORG1]: [] }),
    ]) {
      expect(checkRoleChange(actor, [], ['agents-access'], ORG1)).toEqual({
        role: 'agents-access',
        action: 'assign',
      });
      expect(checkRoleChange(actor, ['member'], [])).toEqual({ role: 'member', action: 'unassign' });
    }
  });

  it('also requires the RBAC permission: a scoped owner key cannot assign roles', () => {
    const scoped = user(['owner'], {}, { scope: scopeFromNames(['chat:*']) });
    expect(checkRoleChange(scoped, [], ['auditor'])).toEqual({ role: 'auditor', action: 'assign' });
  });

  it('allows a change that adds and removes nothing', () => {
    expect(checkRoleChange(user([], {}), ['member'], ['member'])).toBeUndefined();
  });
});
