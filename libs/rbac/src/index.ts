// Public API of @agentmesh/rbac: roles, permission checks, list filters and role assignment.
export {
  ACTIONS,
  RESOURCE_ACTIONS,
  RESOURCE_TYPES,
  WILDCARD,
  isActionOf,
  isResourceType,
  type Action,
  type ActionOf,
  type ResourceType,
  type Wildcard,
} from './actions-resources';
export type {
  AclList,
  AllowListEntry,
  OrgPermissions,
  Permission,
  RbacObject,
  Role,
  Scope,
  Subject,
} from './model';
export { authorize } from './authorize';
export { SCOPE_ALL, isScopeName, scopeFromNames } from './scope';
export {
  AGENTS_ACCESS_ROLE,
  ROLE_DISPLAY_NAMES,
  UnknownRoleError,
  expandRoles,
  isOrgRoleName,
  isSiteRoleName,
  orgRoleNames,
  roleByName,
  siteRoleNames,
  slimRole,
  validateRoleNames,
  type BuiltInRoleName,
  type OrgRoleName,
  type SiteRoleName,
} from './roles';
export {
  CUSTOM_ORGANIZATION_ROLE,
  CUSTOM_SITE_ROLE,
  canAssignRole,
  changeRoleSet,
  checkRoleChange,
  type RoleChangeDenial,
  type RoleRef,
} from './assign';
export { compileSqlFilter, type SqlFilter, type SqlFilterColumns } from './sql-filter';
