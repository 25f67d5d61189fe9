// The compiled list filter, run in Postgres: on a fixed grid of rows covering every owner/org/ACL
// combination, `SELECT id … WHERE <fragment>` must return exactly the rows authorize() allows,
// for many subjects and actions; and on a large table the org-member filter must use the index.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@agentmesh/testing';
import type { DataSource } from 'typeorm';
import {
  authorize,
  compileSqlFilter,
  scopeFromNames,
  type Action,
  type AclList,
  type RbacObject,
  type ResourceType,
  type Role,
  type SqlFilterColumns,
  type Subject,
} from './index';
import { GROUP1, GROUP2, ME, ORG1, ORG2, ORG3, OTHER, subject, user } from '../test/fixtures';

interface Row {
  id: string;
  owner_id: string | null;
  organization_id: string | null;
  user_acl: AclList;
  group_acl: AclList;
}

function gridRows(): Row[] {
  const rows: Row[] = [];
  for (const owner of [ME, OTHER, null]) {
    for (const org of [ORG1, ORG2, ORG3, null]) {
      const acls: [AclList, AclList][] = [
        [{}, {}],
        [{ [ME]: ['read'] }, {}],
        [{ [ME]: ['*'] }, {}],
        [{ [OTHER]: ['read', 'update'] }, {}],
        [{}, { [GROUP1]: ['read'] }],
        [{}, { [GROUP2]: ['*'] }],
        [{}, { [org ?? ORG1]: ['read', 'delete'] }],
        [{}, { [ORG2]: ['read'] }],
      ];
      for (const [userAcl, groupAcl] of acls) {
        rows.push({
          id: randomUUID(),
          owner_id: owner,
          organization_id: org,
          user_acl: userAcl,
          group_acl: groupAcl,
        });
      }
    }
  }
  return rows;
}

const ALL_COLS: SqlFilterColumns = {
  idCol: 'id',
  ownerCol: 'owner_id',
  orgCol: 'organization_id',
  aclUserCol: 'user_acl',
  aclGroupCol: 'group_acl',
};

/** Column sets and the object fields each one exposes to authorize(). */
const LAYOUTS: { name: string; cols: SqlFilterColumns; view: (r: Row) => Omit<RbacObject, 'type'> }[] = [
  {
    name: 'owner, org and ACL columns',
    cols: ALL_COLS,
    view: (r) => ({
      id: r.id,
      owner: r.owner_id ?? '',
      orgOwner: r.organization_id ?? '',
      aclUserList: r.user_acl,
      aclGroupList: r.group_acl,
    }),
  },
  {
    name: 'owner and org columns',
    cols: { idCol: 'id', ownerCol: 'owner_id', orgCol: 'organization_id' },
    view: (r) => ({ id: r.id, owner: r.owner_id ?? '', orgOwner: r.organization_id ?? '' }),
  },
  {
    name: 'org column only',
    cols: { idCol: 'id', orgCol: 'organization_id' },
    view: (r) => ({ id: r.id, owner: '', orgOwner: r.organization_id ?? '' }),
  },
  {
    name: 'owner column only',
    cols: { idCol: 'id', ownerCol: 'owner_id' },
    view: (r) => ({ id: r.id, owner: r.owner_id ?? '', orgOwner: '' }),
  },
];

const CHECKS: [ResourceType, Action[]][] = [
  ['chat', ['create', 'read', 'update', 'delete', 'share']],
  ['workspace', ['create', 'read', 'ssh', 'delete']],
  ['user_secret', ['read', 'update']],
  ['template', ['read', 'update']],
  ['organization_member', ['read']],
  ['aibridge_interception', ['create', 'read']],
  ['api_key', ['delete']],
];

describe('compileSqlFilter against Postgres', () => {
  const db = useTestDatabase();
  let ds: DataSource;
  const rows = gridRows();

  beforeAll(async () => {
    ds = await db.dataSource();
    await ds.query(`
      CREATE TABLE rbac_grid (
        id uuid PRIMARY KEY,
        owner_id uuid,
        organization_id uuid,
        user_acl jsonb NOT NULL,
        group_acl jsonb NOT NULL
      );
      CREATE TABLE rbac_users (id uuid PRIMARY KEY);
      CREATE TABLE rbac_big (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL,
        organization_id uuid NOT NULL
      );
      CREATE INDEX rbac_big_org_idx ON rbac_big (organization_id);`);
    await ds.query(
      `INSERT INTO rbac_grid SELECT * FROM jsonb_populate_recordset(NULL::rbac_grid, $1::jsonb)`,
      [JSON.stringify(rows)],
    );
  });

  async function allowedRows(table: string, where: { sql: string; params: unknown[] }): Promise<string[]> {
    const rows: { id: string }[] = await ds.query(`SELECT id FROM ${table} WHERE ${where.sql}`, where.params);
    return rows.map((r) => r.id).sort();
  }

  const vetoChatRead: Role = {
    name: 'veto-chat-read',
    displayName: '',
    site: [{ negate: true, resourceType: 'chat', action: 'read' }],
    user: [],
    byOrgId: { [ORG1]: { org: [], member: [] } },
  };
  const SUBJECTS: [string, () => Subject][] = [
    ['plain member of ORG1', () => user([], { [ORG1]: [] }, { groups: [GROUP1] })],
    ['agents-access member', () => user([], { [ORG1]: ['agents-access'], [ORG2]: [] }, { groups: [GROUP1] })],
    ['owner', () => user(['owner'], {})],
    [
      'org admin banned in ORG1',
      () =>
        user([], {
          [ORG1]: ['organization-admin', 'organization-workspace-creation-ban'],
          [ORG2]: ['organization-admin'],
        }),
    ],
    ['auditor', () => user(['auditor'], { [ORG2]: ['organization-workspace-access'] }, { groups: [GROUP2] })],
    ['owner with a chat:read key', () => user(['owner'], {}, { scope: scopeFromNames(['chat:read']) })],
    [
      'agents-access member with an allow-listed key',
      () =>
        user(
          [],
          { [ORG1]: ['agents-access'] },
          {
            groups: [GROUP1],
            scope: scopeFromNames(
              ['all'],
              [
                { type: 'chat', id: rows[0].id },
                { type: 'chat', id: rows[1].id },
                { type: 'workspace', id: '*' },
              ],
            ),
          },
        ),
    ],
    ['site-vetoed subject relying on ACLs', () => subject([vetoChatRead], { groups: [GROUP1, GROUP2] })],
    [
      'workspace access with a creation ban',
      () => user([], { [ORG1]: ['organization-workspace-access', 'organization-workspace-creation-ban'] }),
    ],
    ['subject without roles', () => subject([], { groups: [GROUP1] })],
  ];

  describe.each(LAYOUTS)('on a table with $name', ({ cols, view }) => {
    it.each(SUBJECTS)('returns exactly the rows authorize() allows for: %s', async (_name, make) => {
      const who = make();
      for (const [type, actions] of CHECKS) {
        for (const action of actions) {
          const expected = rows
            .filter((r) => authorize(who, action, { type, ...view(r) }))
            .map((r) => r.id)
            .sort();
          const filter = compileSqlFilter(who, action, type, cols);
          expect(filter.sql).not.toContain('::text');
          expect({ type, action, rows: await allowedRows('rbac_grid', filter) }).toEqual({
            type,
            action,
            rows: expected,
          });
        }
      }
    });
  });

  it('filters the users table (owner = id, no org) like authorize()', async () => {
    const ids = [ME, OTHER, randomUUID(), randomUUID()];
    await ds.query(`INSERT INTO rbac_users SELECT unnest($1::uuid[])`, [ids]);
    const who = [
      user([], { [ORG1]: [] }),
      user(['user-admin'], {}),
      user([], { [ORG1]: ['organization-admin'] }),
    ];
    for (const s of who) {
      for (const action of ['read', 'update', 'delete', 'read_personal', 'update_personal'] as const) {
        const expected = ids
          .filter((id) => authorize(s, action, { type: 'user', id, owner: id, orgOwner: '' }))
          .sort();
        expect(
          await allowedRows(
            'rbac_users',
            compileSqlFilter(s, action, 'user', { idCol: 'id', ownerCol: 'id' }),
          ),
        ).toEqual(expected);
      }
    }
  });

  it('lets the planner use the organization_id index for an org member', async () => {
    const org = (i: number) => `0e000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    await ds.query(
      `INSERT INTO rbac_big (owner_id, organization_id)
       SELECT CASE WHEN g % 3 = 0 THEN $1::uuid ELSE gen_random_uuid() END,
              ('0e000000-0000-4000-8000-' || lpad((g % 200)::text, 12, '0'))::uuid
       FROM generate_series(1, 20000) AS g`,
      [ME],
    );
    await ds.query('ANALYZE rbac_big');
    const member = user([], { [org(7)]: ['agents-access'] });
    const filter = compileSqlFilter(member, 'read', 'chat', {
      idCol: 'id',
      ownerCol: 'owner_id',
      orgCol: 'organization_id',
    });
    const plan: { 'QUERY PLAN': string }[] = await ds.query(
      `EXPLAIN SELECT id FROM rbac_big WHERE ${filter.sql}`,
      filter.params,
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/(Index|Bitmap Index) Scan (using|on) rbac_big_org_idx/);
    expect(text).not.toMatch(/Seq Scan/);
    const direct: unknown[] = await ds.query(
      `SELECT 1 FROM rbac_big WHERE organization_id = $1 AND owner_id = $2`,
      [org(7), ME],
    );
    expect(direct.length).toBeGreaterThan(0);
    expect((await allowedRows('rbac_big', filter)).length).toBe(direct.length);
  });
});
