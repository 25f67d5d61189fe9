// Every built-in role, alone, against every resource type and action, for objects in five
// placements. The expected grants are written out below by hand from the role table, not
// derived from the code: any drift in a role definition shows up as a named cell.
import {
  authorize,
  orgRoleNames,
  RESOURCE_ACTIONS,
  roleByName,
  siteRoleNames,
  type Action,
  type ResourceType,
} from './index';
import { ME, obj, ORG1, ORG2, OTHER, subject } from '../test/fixtures';

/** The vocabulary, restated independently of actions-resources.ts. */
const ACTIONS_BY_TYPE: Record<string, string> = {
  user: 'create,read,update,delete,read_personal,update_personal',
  workspace:
    'create,read,update,delete,start,stop,ssh,application_connect,create_agent,delete_agent,update_agent,share',
  workspace_dormant:
    'create,read,update,delete,start,stop,ssh,application_connect,create_agent,delete_agent,update_agent,share',
  prebuilt_workspace: 'update,delete',
  template: 'create,read,update,delete,use,view_insights',
  organization: 'create,read,update,delete',
  organization_member: 'create,read,update,delete',
  group: 'create,read,update,delete',
  group_member: 'read',
  assign_role: 'assign,unassign,read',
  assign_org_role: 'assign,unassign,create,read,update,delete',
  audit_log: 'create,read',
  connection_log: 'read,update',
  deployment_config: 'read,update',
  deployment_stats: 'read',
  system: 'create,read,update,delete',
  api_key: 'create,read,update,delete',
  user_secret: 'create,read,update,delete',
  user_skill: 'create,read,update,delete',
  aibridge_interception: 'create,read,update',
  ai_provider: 'create,read,update,delete',
  ai_seat: 'create,read',
  ai_gateway_key: 'create,read,update,delete',
  chat: 'create,read,update,delete,share',
  chat_project: 'create,read,update,delete,share',
  chat_model_config: 'create,read,update,delete',
  organization_skill: 'create,read,update,delete',
  file: 'create,read',
  provisioner_daemon: 'create,read,update,delete',
  provisioner_jobs: 'create,read,update',
  oauth2_app: 'create,read,update,delete',
  workspace_proxy: 'create,read,update,delete',
  workspace_build_orchestration: 'create,read,update,delete',
  tailnet_coordinator: 'create,read,update,delete',
  notification_message: 'create,read,update,delete',
  notification_preference: 'read,update',
  notification_template: 'read,update',
  inbox_notification: 'create,read,update',
  idpsync_settings: 'read,update',
  boundary_usage: 'read,update,delete',
  boundary_log: 'create,read,delete',
  usage_event: 'create,read,update',
  license: 'create,read,delete',
  crypto_key: 'create,read,update,delete',
};
const TYPES = Object.keys(ACTIONS_BY_TYPE) as ResourceType[];
const actionsOf = (type: string) => ACTIONS_BY_TYPE[type].split(',');

/**
 * Where the object sits relative to the subject (a member of ORG1 only, for org roles):
 * m = mine in ORG1, o = another user's in ORG1, x = mine in ORG2, s = mine site-wide,
 * t = another user's site-wide.
 */
const PLACEMENTS = {
  m: { owner: ME, orgOwner: ORG1 },
  o: { owner: OTHER, orgOwner: ORG1 },
  x: { owner: ME, orgOwner: ORG2 },
  s: { owner: ME, orgOwner: '' },
  t: { owner: OTHER, orgOwner: '' },
};
type Placement = keyof typeof PLACEMENTS;

const DORMANT = 'read,delete,create,update,stop,create_agent,delete_agent,update_agent';

// Each line: <placements> <types, comma-separated> <actions, comma-separated | *>.
// Everything not listed is denied.
const EXPECTED: Record<string, string> = {
  owner: `
    moxst user,template,organization,organization_member,group,group_member,assign_role,assign_org_role,audit_log,connection_log *
    moxst deployment_config,deployment_stats,system,api_key,aibridge_interception,ai_provider,chat,chat_project *
    moxst chat_model_config,organization_skill,file,provisioner_daemon,provisioner_jobs,oauth2_app,workspace_proxy *
    moxst workspace_build_orchestration,tailnet_coordinator,notification_message,notification_preference *
    moxst notification_template,inbox_notification,idpsync_settings,license,crypto_key *
    moxst workspace *
    moxst workspace_dormant ${DORMANT}
    moxst prebuilt_workspace update,delete
    moxst user_skill read,delete
    moxst ai_gateway_key create,read,delete
    moxst boundary_log read`,
  member: `
    moxst assign_role,oauth2_app,workspace_proxy read
    s template,organization,group,group_member,assign_role,assign_org_role,audit_log,connection_log *
    s deployment_config,deployment_stats,system,api_key,user_secret,user_skill,ai_provider,ai_gateway_key *
    s chat_project,chat_model_config,organization_skill,file,provisioner_daemon,provisioner_jobs,oauth2_app *
    s workspace_proxy,workspace_build_orchestration,tailnet_coordinator,notification_message *
    s notification_preference,notification_template,inbox_notification,idpsync_settings,usage_event,license,crypto_key *
    s user read,read_personal,update_personal
    s aibridge_interception create,update
    s boundary_log create`,
  auditor: `
    moxst assign_org_role,audit_log,connection_log,user,group,group_member,organization,organization_member read
    moxst deployment_stats,deployment_config,chat_model_config,aibridge_interception,boundary_log read
    moxst template read,view_insights`,
  'template-admin': `
    moxst assign_org_role,workspace,workspace_dormant,user,group,group_member,organization,organization_member read
    moxst template,provisioner_daemon *
    moxst file create,read
    moxst prebuilt_workspace update,delete`,
  'user-admin': `
    moxst assign_role,assign_org_role assign,unassign,read
    moxst user,group,organization_member *
    moxst group_member,organization read
    moxst idpsync_settings read,update`,
  'organization-admin': `
    moxst user read
    mo user,template,organization,organization_member,group,group_member,assign_org_role,audit_log,connection_log *
    mo deployment_config,deployment_stats,system,api_key,user_skill,aibridge_interception,ai_provider,ai_gateway_key *
    mo chat,chat_project,chat_model_config,organization_skill,file,provisioner_daemon,provisioner_jobs,oauth2_app *
    mo workspace_proxy,tailnet_coordinator,notification_message,notification_preference,notification_template *
    mo inbox_notification,idpsync_settings,usage_event,license,crypto_key *
    mo workspace create,read,update,delete,start,stop,create_agent,delete_agent,update_agent,share
    mo workspace_dormant ${DORMANT}
    mo prebuilt_workspace update,delete`,
  'organization-member': `
    mo provisioner_daemon,organization,assign_org_role,organization_member,group read
    mo chat_project create
    m organization_member,group_member read
    m aibridge_interception create,update
    m api_key,notification_preference,inbox_notification *
    m notification_message read,update
    m chat_project read,update,delete,share`,
  'organization-auditor': `
    mo audit_log,connection_log,group,group_member,organization,organization_member,chat_model_config read
    mo template read,view_insights`,
  'organization-user-admin': `
    moxst user read
    mo assign_org_role assign,unassign,read
    mo organization read
    mo organization_member,group,group_member *
    mo idpsync_settings read,update`,
  'organization-template-admin': `
    mo template,provisioner_daemon *
    mo file create,read
    mo workspace,workspace_dormant,organization,organization_member,group,group_member read
    mo prebuilt_workspace update,delete
    mo provisioner_jobs read,update,create`,
  // Only negations: grants nothing on its own (see the scenario tests for what it takes away).
  'organization-workspace-creation-ban': ``,
  'organization-workspace-access': `
    m workspace *
    m workspace_dormant ${DORMANT}
    m file create,read
    m provisioner_daemon create,read`,
  'organization-service-account': `
    mo provisioner_daemon,organization,assign_org_role,organization_member,group read
    m organization_member,group_member read
    m aibridge_interception create,update
    m api_key,notification_preference,inbox_notification *
    m notification_message read,update`,
  'agents-access': `
    m chat *`,
};

function expectedCells(spec: string): Set<string> {
  const cells = new Set<string>();
  for (const line of spec
    .trim()
    .split('\n')
    .filter((l) => l.trim())) {
    const [placements, types, actions] = line.trim().split(/\s+/);
    for (const type of types.split(',')) {
      if (!(type in ACTIONS_BY_TYPE)) throw new Error(`unknown type ${type} in expectation`);
      for (const action of actions === '*' ? actionsOf(type) : actions.split(',')) {
        for (const p of placements) cells.add(`${p} ${type}:${action}`);
      }
    }
  }
  return cells;
}

describe('built-in role matrix', () => {
  it('covers exactly the resource types and actions of the vocabulary', () => {
    const actual = Object.fromEntries(
      Object.entries(RESOURCE_ACTIONS).map(([t, acts]) => [t, [...acts].sort().join(',')]),
    );
    const expected = Object.fromEntries(TYPES.map((t) => [t, actionsOf(t).sort().join(',')]));
    expect(actual).toEqual(expected);
  });

  it('has an expectation for every built-in role', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...siteRoleNames, ...orgRoleNames].sort());
  });

  it.each(Object.keys(EXPECTED))('%s grants exactly the expected actions per placement', (name) => {
    const role = roleByName(name) ?? roleByName(name, ORG1);
    if (!role) throw new Error(`no role ${name}`);
    const who = subject([role]);
    const expected = expectedCells(EXPECTED[name]);
    const mismatches: string[] = [];
    for (const type of TYPES) {
      for (const action of actionsOf(type)) {
        for (const [p, where] of Object.entries(PLACEMENTS) as [
          Placement,
          (typeof PLACEMENTS)[Placement],
        ][]) {
          const cell = `${p} ${type}:${action}`;
          const got = authorize(
            who,
            action as Action,
            obj(type, { id: '0d000000-0000-4000-8000-000000000001', ...where }),
          );
          if (got !== expected.has(cell))
            mismatches.push(`${cell} expected ${expected.has(cell)}, got ${got}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
