// Role assignment rules: which roles an actor may hand out or take away. Two gates must both
// pass: the actor's roles must allow assign/unassign on `assign_role` (site roles) or
// `assign_org_role` (org roles of that org), and the actor must hold a role whose assignable
// list names the target role. Org-scoped actor roles only count inside their own org.
import { authorize } from './authorize';
import type { Subject } from './model';
import { AGENTS_ACCESS_ROLE, orgRoleNames } from './roles';

/** Placeholders standing for any custom role in assignment checks. */
export const CUSTOM_SITE_ROLE = 'custom-site-role';
export const CUSTOM_ORGANIZATION_ROLE = 'custom-organization-role';

// organization-service-account is set by the system for service accounts, never by people.
const ORG_ROLES_ASSIGNABLE: readonly string[] = orgRoleNames.filter(
  (r) => r !== 'organization-service-account',
);

const ASSIGNABLE = new Map<string, readonly string[]>([
  [
    'owner',
    [
      'owner',
      'auditor',
      'member',
      'template-admin',
      'user-admin',
      ...ORG_ROLES_ASSIGNABLE,
      CUSTOM_SITE_ROLE,
      CUSTOM_ORGANIZATION_ROLE,
    ],
  ],
  ['user-admin', ['member', 'organization-member', 'organization-workspace-access', AGENTS_ACCESS_ROLE]],
  ['organization-admin', [...ORG_ROLES_ASSIGNABLE, CUSTOM_ORGANIZATION_ROLE]],
  ['organization-user-admin', ['organization-member', 'organization-workspace-access', AGENTS_ACCESS_ROLE]],
]);

/** A role as far as assignment cares: its name and, for org roles, its org. Role satisfies it. */
export interface RoleRef {
  name: string;
  organizationId?: string;
}

/**
 * May an actor holding `actorRoles` assign (or remove) `roleName`, a site role when `orgId` is
 * absent or a role of org `orgId`? Name rules only; checkRoleChange adds the RBAC check.
 */
export function canAssignRole(actorRoles: readonly RoleRef[], roleName: string, orgId?: string): boolean {
  return actorRoles.some(
    (r) =>
      (r.organizationId === undefined || r.organizationId === orgId) &&
      (ASSIGNABLE.get(r.name)?.includes(roleName) ?? false),
  );
}

/** Splits a role update into the roles it adds and the roles it removes. */
export function changeRoleSet(
  oldRoles: readonly string[],
  newRoles: readonly string[],
): { added: string[]; removed: string[] } {
  const before = new Set(oldRoles);
  const after = new Set(newRoles);
  return {
    added: [...after].filter((r) => !before.has(r)),
    removed: [...before].filter((r) => !after.has(r)),
  };
}

export interface RoleChangeDenial {
  role: string;
  action: 'assign' | 'unassign';
}

function mayChange(subject: Subject, action: 'assign' | 'unassign', role: string, orgId?: string): boolean {
  const permitted =
    orgId === undefined
      ? authorize(subject, action, { type: 'assign_role', id: '', owner: '', orgOwner: '' })
      : authorize(subject, action, { type: 'assign_org_role', id: '', owner: '', orgOwner: orgId });
  return permitted && canAssignRole(subject.roles, role, orgId);
}

/**
 * The first role of the change `oldRoles` → `newRoles` that `subject` may not assign (when
 * added) or unassign (when removed); undefined when the whole change is allowed.
 */
export function checkRoleChange(
  subject: Subject,
  oldRoles: readonly string[],
  newRoles: readonly string[],
  orgId?: string,
): RoleChangeDenial | undefined {
  const { added, removed } = changeRoleSet(oldRoles, newRoles);
  const role = added.find((r) => !mayChange(subject, 'assign', r, orgId));
  if (role !== undefined) return { role, action: 'assign' };
  const gone = removed.find((r) => !mayChange(subject, 'unassign', r, orgId));
  return gone === undefined ? undefined : { role: gone, action: 'unassign' };
}
