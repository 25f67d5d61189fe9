// The vocabulary of authorization: every action, every resource type, and which actions each
// type accepts. Everything else in the lib (roles, scopes, checks, SQL filters) is typed against
// these constants, so a misspelled type or an action a type does not support fails to compile.

export const WILDCARD = '*';
export type Wildcard = typeof WILDCARD;

export const ACTIONS = [
  'create',
  'read',
  'update',
  'delete',
  'use',
  'ssh',
  'application_connect',
  'view_insights',
  'start',
  'stop',
  'assign',
  'unassign',
  'read_personal',
  'update_personal',
  'create_agent',
  'delete_agent',
  'update_agent',
  'share',
] as const;
export type Action = (typeof ACTIONS)[number];

const CRUD = ['create', 'read', 'update', 'delete'] as const;
const WORKSPACE = [
  ...CRUD,
  'start',
  'stop',
  'ssh',
  'application_connect',
  'create_agent',
  'delete_agent',
  'update_agent',
  'share',
] as const;

/** Resource type → the actions it accepts. A permission or check outside this list is a bug. */
export const RESOURCE_ACTIONS = {
  user: [...CRUD, 'read_personal', 'update_personal'],
  workspace: WORKSPACE,
  // Dormant workspaces accept the same verbs; roles simply grant fewer of them.
  workspace_dormant: WORKSPACE,
  prebuilt_workspace: ['update', 'delete'],
  template: [...CRUD, 'use', 'view_insights'],
  organization: CRUD,
  organization_member: CRUD,
  group: CRUD,
  group_member: ['read'],
  assign_role: ['assign', 'unassign', 'read'],
  assign_org_role: ['assign', 'unassign', ...CRUD],
  audit_log: ['create', 'read'],
  connection_log: ['read', 'update'],
  deployment_config: ['read', 'update'],
  deployment_stats: ['read'],
  // Legacy catch-all kept for internal subjects; new features get their own type.
  system: CRUD,
  api_key: CRUD,
  user_secret: CRUD,
  user_skill: CRUD,
  aibridge_interception: ['create', 'read', 'update'],
  ai_provider: CRUD,
  ai_seat: ['create', 'read'],
  ai_gateway_key: CRUD,
  chat: [...CRUD, 'share'],
  chat_project: [...CRUD, 'share'],
  chat_model_config: CRUD,
  organization_skill: CRUD,
  file: ['create', 'read'],
  provisioner_daemon: CRUD,
  provisioner_jobs: ['create', 'read', 'update'],
  oauth2_app: CRUD,
  workspace_proxy: CRUD,
  workspace_build_orchestration: CRUD,
  tailnet_coordinator: CRUD,
  notification_message: CRUD,
  notification_preference: ['read', 'update'],
  notification_template: ['read', 'update'],
  inbox_notification: ['create', 'read', 'update'],
  idpsync_settings: ['read', 'update'],
  boundary_usage: ['read', 'update', 'delete'],
  boundary_log: ['create', 'read', 'delete'],
  usage_event: ['create', 'read', 'update'],
  license: ['create', 'read', 'delete'],
  crypto_key: CRUD,
} as const satisfies Record<string, readonly Action[]>;

export type ResourceType = keyof typeof RESOURCE_ACTIONS;
/** The actions a given resource type accepts, e.g. `ActionOf<'chat'>`. */
export type ActionOf<T extends ResourceType> = (typeof RESOURCE_ACTIONS)[T][number];

export const RESOURCE_TYPES = Object.keys(RESOURCE_ACTIONS) as ResourceType[];

export function isResourceType(value: string): value is ResourceType {
  return Object.prototype.hasOwnProperty.call(RESOURCE_ACTIONS, value);
}

/** True when `action` is a concrete action the type accepts (the wildcard is not an action). */
export function isActionOf<T extends ResourceType>(type: T, action: string): action is ActionOf<T> {
  return (RESOURCE_ACTIONS[type] as readonly string[]).includes(action);
}
