// Shared fixtures for the rbac specs: fixed ids and one-line builders for subjects and objects.
import {
  expandRoles,
  SCOPE_ALL,
  type RbacObject,
  type ResourceType,
  type Role,
  type Scope,
  type Subject,
} from '../src';

export const ME = '0a000000-0000-4000-8000-000000000001';
export const OTHER = '0a000000-0000-4000-8000-000000000002';
export const ORG1 = '0b000000-0000-4000-8000-000000000001';
export const ORG2 = '0b000000-0000-4000-8000-000000000002';
export const ORG3 = '0b000000-0000-4000-8000-000000000003';
export const GROUP1 = '0c000000-0000-4000-8000-000000000001';
export const GROUP2 = '0c000000-0000-4000-8000-000000000002';

export function subject(
  roles: Role[],
  opts: { id?: string; groups?: string[]; scope?: Scope } = {},
): Subject {
  return { id: opts.id ?? ME, roles, groups: opts.groups ?? [], scope: opts.scope ?? SCOPE_ALL };
}

/** A user as chat-api would build it from `users.rbac_roles` and `organization_members.roles`. */
export function user(
  siteRoles: string[],
  orgRoles: Record<string, string[]>,
  opts: { id?: string; groups?: string[]; scope?: Scope } = {},
): Subject {
  return subject(expandRoles(siteRoles, orgRoles), opts);
}

export function obj<T extends ResourceType>(
  type: T,
  fields: Partial<Omit<RbacObject<T>, 'type'>> = {},
): RbacObject<T> {
  return { type, id: '', owner: '', orgOwner: '', ...fields };
}
