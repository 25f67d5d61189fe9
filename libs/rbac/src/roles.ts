// The built-in roles and their expansion from stored names. Site roles live in `users.rbac_roles`;
// org roles live unprefixed in `organization_members.roles` and apply to that membership's org.
// Every user implicitly holds `member`, and every membership implicitly holds `organization-member`.
//
// Chat access follows the agents-access era: `chat` is absent from member, organization-member and
// organization-service-account, and the org role `agents-access` ("Coder Agents User") grants chat
// at member level, so members can use only their own chats, only in orgs where they hold it.
import type { SlimRole } from '@agentmesh/contracts';
import type { ActionOf } from './actions-resources';
import type { OrgPermissions, Permission, Role } from './model';
import { allExcept, allow, deny } from './permissions';

export const siteRoleNames = ['owner', 'member', 'auditor', 'template-admin', 'user-admin'] as const;
export type SiteRoleName = (typeof siteRoleNames)[number];

export const AGENTS_ACCESS_ROLE = 'agents-access';
export const orgRoleNames = [
  'organization-admin',
  'organization-member',
  'organization-auditor',
  'organization-user-admin',
  'organization-template-admin',
  'organization-workspace-creation-ban',
  'organization-workspace-access',
  'organization-service-account',
  AGENTS_ACCESS_ROLE,
] as const;
export type OrgRoleName = (typeof orgRoleNames)[number];
export type BuiltInRoleName = SiteRoleName | OrgRoleName;

export const ROLE_DISPLAY_NAMES: Readonly<Record<BuiltInRoleName, string>> = {
  owner: 'Owner',
  member: 'Member',
  auditor: 'Auditor',
  'template-admin': 'Template Admin',
  'user-admin': 'User Admin',
  'organization-admin': 'Organization Admin',
  'organization-member': 'Organization Member',
  'organization-auditor': 'Organization Auditor',
  'organization-user-admin': 'Organization User Admin',
  'organization-template-admin': 'Organization Template Admin',
  'organization-workspace-creation-ban': 'Organization Workspace Creation Ban',
  'organization-workspace-access': 'Organization Workspace Access',
  'organization-service-account': 'Organization Service Account',
  [AGENTS_ACCESS_ROLE]: 'Coder Agents User',
};

/** What a dormant workspace still allows: no start, exec or sharing. */
const DORMANT: readonly ActionOf<'workspace_dormant'>[] = [
  'read',
  'delete',
  'create',
  'update',
  'stop',
  'create_agent',
  'delete_agent',
  'update_agent',
];

const SITE_ROLES: Readonly<Record<SiteRoleName, { site: Permission[]; user: Permission[] }>> = {
  owner: {
    site: [
      // Everything, except what users keep private (secrets, skills) and records only the
      // system writes; some of those come back narrower below. Owners cannot read secrets.
      ...allExcept(
        'workspace',
        'workspace_dormant',
        'prebuilt_workspace',
        'user_secret',
        'user_skill',
        'usage_event',
        'boundary_usage',
        'boundary_log',
        'ai_seat',
        'ai_gateway_key',
      ),
      ...allow({
        workspace: '*',
        workspace_dormant: DORMANT,
        prebuilt_workspace: ['update', 'delete'],
        user_skill: ['read', 'delete'],
        // Update records key liveness and is reserved for the gateways' system subject.
        ai_gateway_key: ['create', 'read', 'delete'],
        boundary_log: ['read'],
      }),
    ],
    user: [],
  },
  member: {
    site: allow({ assign_role: ['read'], oauth2_app: ['read'], workspace_proxy: ['read'] }),
    // Everything on what the user owns outside any org, minus what needs an org or a grant.
    user: [
      ...allExcept(
        'workspace',
        'workspace_dormant',
        'prebuilt_workspace',
        'user',
        'organization_member',
        'boundary_usage',
        'boundary_log',
        'aibridge_interception',
        'chat',
        'ai_seat',
      ),
      ...allow({
        user: ['read', 'read_personal', 'update_personal'],
        provisioner_daemon: ['read', 'create', 'update'],
        // Members record their own interceptions but cannot read them back.
        aibridge_interception: ['create', 'update'],
        boundary_log: ['create'],
      }),
    ],
  },
  auditor: {
    site: allow({
      assign_org_role: ['read'],
      audit_log: ['read'],
      connection_log: ['read'],
      template: ['read', 'view_insights'],
      user: ['read'],
      group: ['read'],
      group_member: ['read'],
      organization: ['read'],
      organization_member: ['read'],
      deployment_stats: ['read'],
      deployment_config: ['read'],
      chat_model_config: ['read'],
      aibridge_interception: ['read'],
      boundary_log: ['read'],
    }),
    user: [],
  },
  'template-admin': {
    site: allow({
      assign_org_role: ['read'],
      template: '*',
      file: ['create', 'read'],
      workspace: ['read'],
      workspace_dormant: ['read'],
      prebuilt_workspace: ['update', 'delete'],
      provisioner_daemon: ['create', 'read', 'update', 'delete'],
      user: ['read'],
      group: ['read'],
      group_member: ['read'],
      organization: ['read'],
      organization_member: ['read'],
    }),
    user: [],
  },
  'user-admin': {
    site: allow({
      assign_role: ['assign', 'unassign', 'read'],
      // Creating a user always adds them to an org, so org role assignment comes along.
      assign_org_role: ['assign', 'unassign', 'read'],
      user: '*',
      group: '*',
      group_member: ['read'],
      organization: ['read'],
      organization_member: '*',
      idpsync_settings: ['read', 'update'],
    }),
    user: [],
  },
};

/** Permissions every org member holds in its org (also the service-account baseline). */
const MEMBER_FLOOR = allow({
  organization_member: ['read'],
  group_member: ['read'],
  aibridge_interception: ['create', 'update'],
  api_key: '*',
  notification_message: ['read', 'update'],
  notification_preference: '*',
  inbox_notification: '*',
});

/**
 * Org members see other members and groups: this is the reference's default workspace-sharing
 * setting (`everyone`), the only one we model.
 */
const ORG_FLOOR = allow({
  provisioner_daemon: ['read'],
  organization: ['read'],
  assign_org_role: ['read'],
  organization_member: ['read'],
  group: ['read'],
});

interface OrgRoleDef {
  /** Site-wide permissions the org role needs (e.g. reading users in order to add them). */
  site?: Permission[];
  perms: OrgPermissions;
}

const ORG_ROLES: Readonly<Record<OrgRoleName, OrgRoleDef>> = {
  'organization-admin': {
    site: allow({ user: ['read'] }),
    perms: {
      // No exec in members' workspaces, no secrets, no site-wide role assignment.
      org: [
        ...allExcept(
          'workspace',
          'workspace_dormant',
          'prebuilt_workspace',
          'assign_role',
          'user_secret',
          'boundary_usage',
          'boundary_log',
          'ai_seat',
          'workspace_build_orchestration',
        ),
        ...allow({
          workspace: [
            'create',
            'read',
            'update',
            'delete',
            'start',
            'stop',
            'create_agent',
            'delete_agent',
            'update_agent',
            'share',
          ],
          workspace_dormant: DORMANT,
          prebuilt_workspace: ['update', 'delete'],
        }),
      ],
      member: [],
    },
  },
  'organization-member': {
    perms: {
      org: [...ORG_FLOOR, ...allow({ chat_project: ['create'] })],
      // Projects stay private to their creator until shared.
      member: [...MEMBER_FLOOR, ...allow({ chat_project: ['read', 'update', 'delete', 'share'] })],
    },
  },
  'organization-service-account': {
    // The member baseline without chats or chat projects.
    perms: { org: ORG_FLOOR, member: MEMBER_FLOOR },
  },
  'organization-auditor': {
    perms: {
      org: allow({
        audit_log: ['read'],
        connection_log: ['read'],
        template: ['read', 'view_insights'],
        group: ['read'],
        group_member: ['read'],
        organization: ['read'],
        organization_member: ['read'],
        chat_model_config: ['read'],
      }),
      member: [],
    },
  },
  'organization-user-admin': {
    site: allow({ user: ['read'] }),
    perms: {
      org: allow({
        assign_org_role: ['assign', 'unassign', 'read'],
        organization: ['read'],
        organization_member: '*',
        group: '*',
        group_member: '*',
        idpsync_settings: ['read', 'update'],
      }),
      member: [],
    },
  },
  'organization-template-admin': {
    perms: {
      org: allow({
        template: '*',
        file: ['create', 'read'],
        workspace: ['read'],
        workspace_dormant: ['read'],
        prebuilt_workspace: ['update', 'delete'],
        organization: ['read'],
        organization_member: ['read'],
        group: ['read'],
        group_member: ['read'],
        provisioner_daemon: '*',
        provisioner_jobs: ['read', 'update', 'create'],
      }),
      member: [],
    },
  },
  // Negations at org level outrank every grant in the org, organization-admin's included.
  'organization-workspace-creation-ban': {
    perms: { org: deny({ workspace: ['create', 'delete', 'create_agent', 'delete_agent'] }), member: [] },
  },
  'organization-workspace-access': {
    perms: {
      org: [],
      member: allow({
        workspace: '*',
        workspace_dormant: DORMANT,
        file: ['create', 'read'],
        provisioner_daemon: ['create', 'read'],
      }),
    },
  },
  [AGENTS_ACCESS_ROLE]: {
    perms: { org: [], member: allow({ chat: '*' }) },
  },
};

export function isSiteRoleName(name: string): name is SiteRoleName {
  return (siteRoleNames as readonly string[]).includes(name);
}

export function isOrgRoleName(name: string): name is OrgRoleName {
  return (orgRoleNames as readonly string[]).includes(name);
}

/**
 * The built-in role `name`: a site role when `orgId` is absent, an org role of `orgId` when
 * given. undefined when there is no such role in that scope.
 */
export function roleByName(name: string, orgId?: string): Role | undefined {
  if (orgId === undefined) {
    if (!isSiteRoleName(name)) return undefined;
    return { name, displayName: ROLE_DISPLAY_NAMES[name], ...SITE_ROLES[name], byOrgId: {} };
  }
  if (!isOrgRoleName(name) || orgId === '') return undefined;
  const def = ORG_ROLES[name];
  return {
    name,
    displayName: ROLE_DISPLAY_NAMES[name],
    organizationId: orgId,
    site: def.site ?? [],
    user: [],
    byOrgId: { [orgId]: def.perms },
  };
}

export class UnknownRoleError extends Error {
  constructor(
    readonly role: string,
    readonly organizationId?: string,
  ) {
    super(
      organizationId
        ? `unknown role "${role}" in organization ${organizationId}`
        : `unknown site role "${role}"`,
    );
    this.name = 'UnknownRoleError';
  }
}

function expandOne(name: string, orgId?: string): Role {
  const role = roleByName(name, orgId);
  if (!role) throw new UnknownRoleError(name, orgId);
  return role;
}

/**
 * The roles a user holds, from the stored names: site roles (plus the implicit `member`) and,
 * per org membership, org roles (plus the implicit `organization-member`). Throws
 * UnknownRoleError on a name that is not a role in its scope: input is validated on write, so
 * such a name means corrupt data, and failing beats silently granting a different set.
 */
export function expandRoles(
  siteRoles: readonly string[],
  orgRoles: Readonly<Record<string, readonly string[]>> = {},
): Role[] {
  const roles = [...new Set(['member', ...siteRoles])].map((n) => expandOne(n));
  for (const [orgId, names] of Object.entries(orgRoles)) {
    for (const n of new Set(['organization-member', ...names])) roles.push(expandOne(n, orgId));
  }
  return roles;
}

/** The names that are not built-in roles of the given scope (empty when all are valid). */
export function validateRoleNames(names: readonly string[], scope: 'site' | 'organization'): string[] {
  const known = scope === 'site' ? isSiteRoleName : isOrgRoleName;
  return names.filter((n) => !known(n));
}

/** SlimRole for a stored role name; roles we do not define get an empty display name. */
export function slimRole(name: string, orgId?: string): SlimRole {
  return {
    name,
    display_name: roleByName(name, orgId)?.displayName ?? '',
    ...(orgId === undefined ? {} : { organization_id: orgId }),
  };
}
