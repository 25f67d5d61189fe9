// The shape of compiled list filters: constant folding, native uuid comparisons, parameter
// numbering and tables that lack some columns. Row-level agreement with authorize() is proven
// against Postgres in sql-filter.integration.spec.ts.
import { compileSqlFilter, scopeFromNames, type Role, type Subject } from './index';
import { ME, ORG1, ORG2, subject, user } from '../test/fixtures';

const COLS = {
  idCol: 'c.id',
  ownerCol: 'c.owner_id',
  orgCol: 'c.organization_id',
  aclUserCol: 'c.user_acl',
  aclGroupCol: 'c.group_acl',
};
const ROLE_COLS = { idCol: 'id', ownerCol: 'owner_id', orgCol: 'organization_id' };

/** Every `$n` in the SQL, in order of first appearance. */
const placeholders = (sql: string) => [...new Set(sql.match(/\$\d+/g) ?? [])];

describe('compileSqlFilter', () => {
  it('is TRUE for a site-wide grant under an unrestricted scope', () => {
    expect(compileSqlFilter(user(['owner'], {}), 'read', 'chat', ROLE_COLS)).toEqual({
      sql: 'TRUE',
      params: [],
    });
  });

  it('is FALSE when a site negation leaves no ACL to fall back on', () => {
    const vetoed: Role = {
      name: 'veto',
      displayName: '',
      site: [{ negate: true, resourceType: 'chat', action: 'read' }],
      user: [],
      byOrgId: { [ORG1]: { org: [{ negate: false, resourceType: 'chat', action: 'read' }], member: [] } },
    };
    expect(compileSqlFilter(subject([vetoed]), 'read', 'chat', ROLE_COLS)).toEqual({
      sql: 'FALSE',
      params: [],
    });
  });

  it('limits an agents-access member to their own rows in that org, with native uuid parameters', () => {
    const member = user([], { [ORG1]: ['agents-access'], [ORG2]: [] });
    expect(compileSqlFilter(member, 'read', 'chat', ROLE_COLS)).toEqual({
      sql: '(organization_id = ANY($1::uuid[]) AND owner_id = $2::uuid)',
      params: [[ORG1], ME],
    });
  });

  it('collapses to FALSE instead of comparing with an empty array', () => {
    const filter = compileSqlFilter(user([], { [ORG1]: [] }), 'read', 'chat', ROLE_COLS);
    expect(filter).toEqual({ sql: 'FALSE', params: [] });
  });

  it('numbers parameters from the given offset, without gaps or unused values', () => {
    const member = user(
      [],
      { [ORG1]: ['agents-access'] },
      { groups: ['0c000000-0000-4000-8000-000000000001'] },
    );
    const { sql, params } = compileSqlFilter(member, 'update', 'chat', COLS, 4);
    expect(placeholders(sql)).toEqual(params.map((_, i) => `$${i + 4}`));
  });

  it('never casts a column to text', () => {
    const subjects: Subject[] = [
      user(
        [],
        { [ORG1]: ['agents-access', 'organization-admin'], [ORG2]: ['organization-auditor'] },
        { groups: ['g'] },
      ),
      user(['auditor'], { [ORG1]: [] }, { scope: scopeFromNames(['chat:read'], [{ type: 'chat', id: ME }]) }),
      user([], {}),
    ];
    for (const who of subjects) {
      for (const action of ['create', 'read', 'update', 'delete', 'share'] as const) {
        expect(compileSqlFilter(who, action, 'chat', COLS).sql).not.toMatch(/::text/);
      }
    }
  });

  it('matches the owner alone on a table with no org column (users: owner is the id)', () => {
    expect(compileSqlFilter(user([], {}), 'update_personal', 'user', { ownerCol: 'id' })).toEqual({
      sql: '(id = $1::uuid)',
      params: [ME],
    });
  });

  it('drops owner conditions on a table with no owner column', () => {
    const member = user([], { [ORG1]: ['agents-access'] });
    expect(compileSqlFilter(member, 'read', 'chat', { orgCol: 'organization_id' }).sql).toBe('FALSE');
    const admin = user([], { [ORG1]: ['organization-template-admin'] });
    expect(compileSqlFilter(admin, 'update', 'template', { orgCol: 'organization_id' })).toEqual({
      sql: '(organization_id = ANY($1::uuid[]))',
      params: [[ORG1]],
    });
  });

  it('restricts to allow-listed ids, and admits nothing when the table has no id column', () => {
    const id = '0d000000-0000-4000-8000-0000000000c1';
    const scoped = user(['owner'], {}, { scope: scopeFromNames(['all'], [{ type: 'chat', id }]) });
    expect(compileSqlFilter(scoped, 'read', 'chat', ROLE_COLS)).toEqual({
      sql: '(id = ANY($1::uuid[]))',
      params: [[id]],
    });
    expect(compileSqlFilter(scoped, 'read', 'chat', { orgCol: 'organization_id' }).sql).toBe('FALSE');
    expect(compileSqlFilter(scoped, 'read', 'template', ROLE_COLS).sql).toBe('FALSE');
  });

  it('rejects column references that are not plain identifiers', () => {
    expect(() =>
      compileSqlFilter(user([], {}), 'read', 'chat', { ownerCol: 'owner_id; DROP TABLE chats' }),
    ).toThrow('invalid column reference');
  });

  it('is FALSE for an action the type does not have', () => {
    expect(compileSqlFilter(user(['owner'], {}), 'ssh' as 'read', 'chat', ROLE_COLS).sql).toBe('FALSE');
  });
});
