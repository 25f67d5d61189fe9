// The data the authorizer reasons about: the object being acted on, the subject acting, and the
// roles and scope the subject carries. Plain data, so the same shapes serve authorize() for one
// row and compileSqlFilter() for a whole table. Ids are canonical (lower-case) uuid strings.
import type { Action, ResourceType, Wildcard } from './actions-resources';

export interface Permission {
  /** A negated permission that matches vetoes its whole level (see ladder.ts). */
  negate: boolean;
  resourceType: ResourceType | Wildcard;
  action: Action | Wildcard;
}

export interface OrgPermissions {
  /** Apply to every object of the org. */
  org: readonly Permission[];
  /** Apply only to objects of the org that the subject owns. */
  member: readonly Permission[];
}

export interface Role {
  /** Unprefixed role name (`organization-admin`); org roles carry their org in `organizationId`. */
  name: string;
  displayName: string;
  organizationId?: string;
  site: readonly Permission[];
  user: readonly Permission[];
  /** Any key here makes the holder a member of that org (for group/Everyone ACLs). */
  byOrgId: Readonly<Record<string, OrgPermissions>>;
}

/** Object id → actions granted through an ACL (`*` grants all). */
export type AclList = Readonly<Record<string, readonly string[]>>;

export interface RbacObject<T extends ResourceType = ResourceType> {
  type: T;
  /** '' for a type-level check (e.g. create) or an object without an id. */
  id: string;
  /** Owning user id, '' when nobody owns it. */
  owner: string;
  /** Owning org id, '' for site-wide objects. */
  orgOwner: string;
  /** "In any org the subject belongs to": the best org vote wins (used for e.g. "may create in some org"). */
  anyOrg?: boolean;
  aclUserList?: AclList;
  /** Group id → actions; the key equal to `orgOwner` is the org's Everyone group. */
  aclGroupList?: AclList;
}

export interface AllowListEntry {
  type: ResourceType | Wildcard;
  /** Object id or `*`. */
  id: string;
}

/** What a credential (API key) may do at most: a role checked like any other, plus the objects it may touch. */
export interface Scope {
  name: string;
  role: Role;
  allowList: readonly AllowListEntry[];
}

export interface Subject {
  id: string;
  /** Expanded roles (see expandRoles). */
  roles: readonly Role[];
  groups: readonly string[];
  scope: Scope;
}
