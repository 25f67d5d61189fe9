// Hand-written SQL for the user aggregate (users, their org ids). Authorization arrives as
// a compiled WHERE fragment with its own parameters, appended after ours.
import type { EntityManager, DataSource } from 'typeorm';

export type Db = Pick<EntityManager | DataSource, 'query'>;

export interface UserRecord {
  id: string;
  email: string;
  username: string;
  name: string;
  avatar_url: string;
  status: 'active' | 'dormant' | 'suspended';
  login_type: 'password' | 'github' | 'oidc' | 'token' | 'none';
  rbac_roles: string[];
  is_service_account: boolean;
  created_at: Date;
  updated_at: Date;
  last_seen_at: Date;
  organization_ids: string[];
}

const USER_COLUMNS = `u.id, u.email, u.username, u.name, u.avatar_url, u.status, u.login_type, u.rbac_roles,
  u.is_service_account, u.created_at, u.updated_at, u.last_seen_at,
  COALESCE((SELECT array_agg(m.organization_id::text ORDER BY m.created_at, m.organization_id)
              FROM organization_members m WHERE m.user_id = u.id), '{}') AS organization_ids`;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);

/** By id or (case-insensitive) username; deleted users are invisible. */
export async function findUser(db: Db, idOrUsername: string): Promise<UserRecord | undefined> {
  const byId = isUuid(idOrUsername);
  const rows: UserRecord[] = await db.query(
    `SELECT ${USER_COLUMNS} FROM users u WHERE NOT u.deleted AND ${byId ? 'u.id = $1::uuid' : 'lower(u.username) = lower($1)'}`,
    [idOrUsername],
  );
  return rows[0];
}

export async function findUserByEmailWithPassword(
  db: Db,
  email: string,
): Promise<(UserRecord & { hashed_password: Buffer }) | undefined> {
  const rows = await db.query(
    `SELECT ${USER_COLUMNS}, u.hashed_password FROM users u WHERE NOT u.deleted AND lower(u.email) = lower($1)`,
    [email],
  );
  return rows[0];
}

export interface UserSearch {
  search?: string;
  username?: string;
  email?: string;
  name?: string;
  statuses?: string[];
  roles?: string[];
  loginTypes?: string[];
}

export interface Page {
  limit: number;
  offset: number;
  afterId?: string;
}

/**
 * One page of users, ordered by lower(username) then id, with the total count of matches.
 * `authz` is the RBAC read filter over alias `u` with parameters numbered from `authzOffset`.
 */
export async function listUsers(
  db: Db,
  search: UserSearch,
  page: Page,
  authz: (paramOffset: number) => { sql: string; params: unknown[] },
): Promise<{ users: UserRecord[]; count: number }> {
  const where: string[] = ['NOT u.deleted'];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (search.search) {
    const like = p(`%${escapeLike(search.search)}%`);
    where.push(`(u.username ILIKE ${like} OR u.email ILIKE ${like})`);
  }
  if (search.username) where.push(`lower(u.username) = lower(${p(search.username)})`);
  if (search.email) where.push(`lower(u.email) = lower(${p(search.email)})`);
  if (search.name) where.push(`u.name ILIKE ${p(`%${escapeLike(search.name)}%`)}`);
  if (search.statuses?.length) where.push(`u.status = ANY(${p(search.statuses)}::user_status[])`);
  if (search.loginTypes?.length) where.push(`u.login_type = ANY(${p(search.loginTypes)}::login_type[])`);
  if (search.roles?.length) {
    // "member" is implicit for everyone, so it matches every user.
    const explicit = search.roles.filter((r) => r !== 'member');
    if (explicit.length === search.roles.length) where.push(`u.rbac_roles && ${p(explicit)}::text[]`);
  }
  const filter = authz(params.length + 1);
  params.push(...filter.params);
  where.push(filter.sql);
  const base = where.join(' AND ');
  const countParams = [...params];
  let keyset = '';
  if (page.afterId) {
    keyset = ` AND (lower(u.username), u.id) > (SELECT lower(username), id FROM users WHERE id = ${p(page.afterId)}::uuid)`;
  }
  const rows: (UserRecord & { total?: string })[] = await db.query(
    `SELECT ${USER_COLUMNS} FROM users u WHERE ${base}${keyset}
      ORDER BY lower(u.username), u.id LIMIT ${p(page.limit)} OFFSET ${p(page.offset)}`,
    params,
  );
  const [{ count }] = await db.query(`SELECT count(*)::int AS count FROM users u WHERE ${base}`, countParams);
  return { users: rows, count };
}

export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
