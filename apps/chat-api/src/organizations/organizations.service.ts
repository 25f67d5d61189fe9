// Organizations and their members: reads filtered by RBAC, membership changes and org
// role assignment (checked against who may assign which role).
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  Organization,
  OrganizationMember,
  OrganizationMemberWithUserData,
  PaginatedMembersResponse,
  wireTime,
} from '@agentmesh/contracts';
import { inTransaction, pgErrorCode, PG_UNIQUE_VIOLATION, queryRows } from '@agentmesh/db';
import { escapeLike, findUser, isUuid, UserRecord } from '@agentmesh/entities';
import { checkRoleChange, slimRole, validateRoleNames } from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { AuthContext } from '../auth/auth.types';
import { assertCan, assertVisible, Objects, sqlFilter } from '../auth/authz';
import { aiSeatHolders } from '../users/user-mapper';
import { UsersService } from '../users/users.service';

interface OrgRow {
  id: string;
  name: string;
  display_name: string;
  description: string;
  icon: string;
  created_at: Date;
  updated_at: Date;
  is_default: boolean;
}

interface MemberRow {
  user_id: string;
  organization_id: string;
  created_at: Date;
  updated_at: Date;
  roles: string[];
  username: string;
  name: string;
  avatar_url: string;
  email: string;
  status: OrganizationMemberWithUserData['status'];
  login_type: Exclude<OrganizationMemberWithUserData['login_type'], ''>;
  last_seen_at: Date;
  user_created_at: Date;
  user_updated_at: Date;
  is_service_account: boolean;
  rbac_roles: string[];
}

const ORG_COLUMNS = `o.id, o.name, o.display_name, o.description, o.icon, o.created_at, o.updated_at, o.is_default`;
const MEMBER_COLUMNS = `m.user_id, m.organization_id, m.created_at, m.updated_at, m.roles, u.username, u.name, u.avatar_url,
  u.email, u.status, u.login_type, u.last_seen_at, u.created_at AS user_created_at, u.updated_at AS user_updated_at,
  u.is_service_account, u.rbac_roles`;

function toOrganization(r: OrgRow): Organization {
  return {
    id: r.id,
    name: r.name,
    display_name: r.display_name,
    description: r.description,
    icon: r.icon,
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
    is_default: r.is_default,
  };
}

function toMember(
  r: Pick<MemberRow, 'user_id' | 'organization_id' | 'created_at' | 'updated_at' | 'roles'>,
): OrganizationMember {
  return {
    user_id: r.user_id,
    organization_id: r.organization_id,
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
    roles: r.roles.map((n) => slimRole(n, r.organization_id)),
  };
}

function toMemberWithUser(r: MemberRow, aiSeats: ReadonlySet<string>): OrganizationMemberWithUserData {
  return {
    ...toMember(r),
    username: r.username,
    ...(r.name ? { name: r.name } : {}),
    ...(r.avatar_url ? { avatar_url: r.avatar_url } : {}),
    email: r.email,
    status: r.status,
    login_type: r.login_type,
    last_seen_at: wireTime(r.last_seen_at),
    user_created_at: wireTime(r.user_created_at),
    user_updated_at: wireTime(r.user_updated_at),
    ...(r.is_service_account ? { is_service_account: true } : {}),
    global_roles: r.rbac_roles.map((n) => slimRole(n)),
    has_ai_seat: aiSeats.has(r.user_id),
  };
}

export interface MemberFilter {
  userId?: string;
  /** Free text matched against username and email. */
  search?: string;
  /** A filter no member can match (e.g. a GitHub user id: there are no GitHub links). */
  noMatch?: boolean;
}

@Injectable()
export class OrganizationsService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly users: UsersService,
  ) {}

  async list(auth: AuthContext, userRef?: string): Promise<Organization[]> {
    const filter = sqlFilter(auth, 'read', 'organization', { idCol: 'o.id', orgCol: 'o.id' })(
      userRef ? 2 : 1,
    );
    const rows: OrgRow[] = userRef
      ? await this.ds.query(
          `SELECT ${ORG_COLUMNS} FROM organizations o JOIN organization_members m ON m.organization_id = o.id
            WHERE NOT o.deleted AND m.user_id = $1 AND ${filter.sql} ORDER BY o.created_at, o.id`,
          [(await this.users.resolve(auth, userRef)).id, ...filter.params],
        )
      : await this.ds.query(
          `SELECT ${ORG_COLUMNS} FROM organizations o WHERE NOT o.deleted AND ${filter.sql} ORDER BY o.created_at, o.id`,
          filter.params,
        );
    return rows.map(toOrganization);
  }

  /** `ref` is a uuid, a name, or `default`; invisible organizations are 404. */
  async resolve(auth: AuthContext, ref: string): Promise<OrgRow> {
    const where =
      ref === 'default' ? 'o.is_default' : isUuid(ref) ? 'o.id = $1::uuid' : 'lower(o.name) = lower($1)';
    const rows: OrgRow[] = await this.ds.query(
      `SELECT ${ORG_COLUMNS} FROM organizations o WHERE NOT o.deleted AND ${where}`,
      ref === 'default' ? [] : [ref],
    );
    const org = rows[0];
    if (!org) throw ApiError.notFound();
    assertVisible(auth, 'read', Objects.organization(org.id));
    return org;
  }

  async get(auth: AuthContext, ref: string): Promise<Organization> {
    return toOrganization(await this.resolve(auth, ref));
  }

  async members(
    auth: AuthContext,
    orgRef: string,
    opts: MemberFilter & { limit?: number; offset?: number } = {},
  ): Promise<PaginatedMembersResponse> {
    const org = await this.resolve(auth, orgRef);
    const params: unknown[] = [org.id];
    let where = `m.organization_id = $1 AND NOT u.deleted`;
    if (opts.noMatch) where += ' AND false';
    if (opts.userId) {
      params.push(opts.userId);
      where += ` AND m.user_id = $${params.length}::uuid`;
    }
    if (opts.search) {
      params.push(`%${escapeLike(opts.search)}%`);
      where += ` AND (u.username ILIKE $${params.length} OR u.email ILIKE $${params.length})`;
    }
    const filter = sqlFilter(auth, 'read', 'organization_member', {
      orgCol: 'm.organization_id',
      ownerCol: 'm.user_id',
      idCol: 'm.user_id',
    })(params.length + 1);
    params.push(...filter.params);
    where += ` AND ${filter.sql}`;
    const countParams = [...params];
    params.push(opts.limit ?? null, opts.offset ?? 0);
    const rows: MemberRow[] = await this.ds.query(
      `SELECT ${MEMBER_COLUMNS} FROM organization_members m JOIN users u ON u.id = m.user_id
        WHERE ${where} ORDER BY lower(u.username), u.id LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    const [{ count }] = await this.ds.query(
      `SELECT count(*)::int AS count FROM organization_members m JOIN users u ON u.id = m.user_id WHERE ${where}`,
      countParams,
    );
    const seats = await aiSeatHolders(
      this.ds,
      rows.map((r) => r.user_id),
    );
    return { members: rows.map((r) => toMemberWithUser(r, seats)), count };
  }

  /**
   * The `{user}` of a member route. Looked up without the caller's user-read permission: the
   * organization_member permission decides (a member may see fellow members it cannot read
   * as users), as the reference does.
   */
  private async memberUser(auth: AuthContext, ref: string): Promise<UserRecord> {
    const user = await findUser(this.ds, ref === 'me' ? auth.userId : ref);
    if (!user) throw ApiError.notFound();
    return user;
  }

  async member(auth: AuthContext, orgRef: string, userRef: string): Promise<OrganizationMemberWithUserData> {
    const user = await this.memberUser(auth, userRef);
    const { members } = await this.members(auth, orgRef, { userId: user.id });
    if (members.length === 0) throw ApiError.notFound();
    return members[0];
  }

  async addMember(auth: AuthContext, orgRef: string, userRef: string): Promise<OrganizationMember> {
    const org = await this.resolve(auth, orgRef);
    const user = await this.memberUser(auth, userRef);
    assertCan(
      auth,
      'create',
      Objects.member(org.id, user.id),
      'You are not allowed to add members to this organization.',
    );
    try {
      const [row] = await this.ds.query(
        `INSERT INTO organization_members (organization_id, user_id, roles) VALUES ($1, $2, '{}') RETURNING *`,
        [org.id, user.id],
      );
      return toMember(row);
    } catch (e) {
      if (pgErrorCode(e) === PG_UNIQUE_VIOLATION)
        throw new ApiError('conflict', 'User is already an organization member.');
      throw e;
    }
  }

  async removeMember(auth: AuthContext, orgRef: string, userRef: string): Promise<void> {
    const org = await this.resolve(auth, orgRef);
    const user = await this.memberUser(auth, userRef);
    assertCan(
      auth,
      'delete',
      Objects.member(org.id, user.id),
      'You are not allowed to remove members from this organization.',
    );
    if (user.id === auth.userId)
      throw new ApiError('bad_request', 'You cannot remove yourself from an organization.');
    const rows = await queryRows(
      this.ds,
      `DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2 RETURNING user_id`,
      [org.id, user.id],
    );
    if (rows.length === 0) throw ApiError.notFound();
  }

  async updateMemberRoles(
    auth: AuthContext,
    orgRef: string,
    userRef: string,
    roles: string[],
  ): Promise<OrganizationMember> {
    const org = await this.resolve(auth, orgRef);
    const user = await this.memberUser(auth, userRef);
    const wanted = [...new Set(roles.filter((r) => r !== 'organization-member'))];
    const unknown = validateRoleNames(wanted, 'organization');
    if (unknown.length > 0)
      throw ApiError.field('roles', `unknown organization role(s): ${unknown.join(', ')}`);
    if (user.id === auth.userId)
      throw new ApiError('bad_request', 'You cannot change your own organization roles.');
    return inTransaction(this.ds, async (em) => {
      const [current] = await em.query(
        `SELECT roles FROM organization_members WHERE organization_id = $1 AND user_id = $2 FOR UPDATE`,
        [org.id, user.id],
      );
      if (!current) throw ApiError.notFound();
      const denied = checkRoleChange(auth.subject, current.roles, wanted, org.id);
      if (denied)
        throw ApiError.forbidden(`You are not allowed to ${denied.action} the role "${denied.role}".`);
      const [row] = await queryRows<MemberRow>(
        em,
        `UPDATE organization_members SET roles = $3, updated_at = now() WHERE organization_id = $1 AND user_id = $2 RETURNING *`,
        [org.id, user.id, wanted],
      );
      return toMember(row);
    });
  }
}
