// User lifecycle: the first user (owner + default organization), admin-created users, reads,
// searches and site role changes. Every write is one transaction; uniqueness races are
// settled by the database's unique indexes and reported as 409.
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import {
  CreateFirstUserResponse,
  FirstUserTelemetryEvent,
  User,
  UserRoles,
  wireTime,
} from '@agentmesh/contracts';
import {
  advisoryXactLock,
  inTransaction,
  pgConstraint,
  pgErrorCode,
  PG_UNIQUE_VIOLATION,
} from '@agentmesh/db';
import { findUser, listUsers, UserRecord, UserSearch, Page } from '@agentmesh/entities';
import { OutboxService, Subjects } from '@agentmesh/bus';
import { checkRoleChange, validateRoleNames } from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { AuthContext } from '../auth/auth.types';
import { assertCan, assertVisible, Objects, sqlFilter } from '../auth/authz';
import { hashPassword } from '../auth/passwords';
import { CreateFirstUserDto } from './dto/create-first-user.dto';
import { CreateUserDto } from './dto/create-user.dto';
import { aiSeatHolders, toUser } from './user-mapper';

export const DEFAULT_ORG_NAME = 'coder';
const FIRST_USER_EXISTS = 'The initial user has already been created.';

@Injectable()
export class UsersService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly outbox: OutboxService,
  ) {}

  async hasFirstUser(): Promise<boolean> {
    const rows = await this.ds.query(`SELECT EXISTS (SELECT 1 FROM users WHERE NOT deleted) AS ok`);
    return rows[0].ok === true;
  }

  async createFirstUser(dto: CreateFirstUserDto): Promise<CreateFirstUserResponse> {
    // Refuse before hashing: the route is public and a hash costs 32 MiB and ~100 ms.
    if (await this.hasFirstUser()) throw new ApiError('conflict', FIRST_USER_EXISTS);
    const hashed = await hashPassword(dto.password);
    const result = await inTransaction(this.ds, async (em) => {
      // Serialize concurrent first-user requests: exactly one may see an empty table.
      await advisoryXactLock(em, 'firstUser');
      const exists = await em.query(`SELECT 1 FROM users WHERE NOT deleted LIMIT 1`);
      if (exists.length > 0) throw new ApiError('conflict', FIRST_USER_EXISTS);
      const orgRows = await em.query(`SELECT id FROM organizations WHERE is_default AND NOT deleted`);
      const orgId: string = orgRows[0]?.id ?? randomUUID();
      if (orgRows.length === 0) {
        await em.query(
          `INSERT INTO organizations (id, name, display_name, description, is_default) VALUES ($1, $2, 'Coder', 'Builtin default organization.', true)`,
          [orgId, DEFAULT_ORG_NAME],
        );
      }
      const userId = randomUUID();
      const [user] = await em.query(
        `INSERT INTO users (id, email, username, name, hashed_password, status, login_type, rbac_roles)
         VALUES ($1, $2, $3, $4, $5, 'active', 'password', '{owner}') RETURNING created_at`,
        [userId, dto.email, dto.username, dto.name ?? '', hashed],
      );
      await em.query(
        `INSERT INTO organization_members (organization_id, user_id, roles) VALUES ($1, $2, '{}')`,
        [orgId, userId],
      );
      const event: FirstUserTelemetryEvent = {
        v: 1,
        user_id: userId,
        organization_id: orgId,
        email: dto.email,
        username: dto.username,
        created_at: wireTime(user.created_at),
        ...(dto.onboarding_info
          ? {
              onboarding: {
                newsletter_marketing: dto.onboarding_info.newsletter_marketing ?? false,
                newsletter_releases: dto.onboarding_info.newsletter_releases ?? false,
              },
            }
          : {}),
      };
      await this.outbox.enqueue(em, Subjects.telemetryFirstUser, event, `first_user:${userId}`);
      return { user_id: userId, organization_id: orgId };
    });
    this.outbox.kick();
    return result;
  }

  async createUser(auth: AuthContext, dto: CreateUserDto): Promise<User> {
    assertCan(auth, 'create', Objects.anyUser(), 'You are not allowed to create users.');
    const loginType = dto.login_type || 'password';
    if (loginType !== 'password' && dto.password) {
      throw ApiError.field('password', `must not be set for login_type "${loginType}"`);
    }
    // `member` is implicit for everyone and never stored.
    const roles = [...new Set((dto.roles ?? []).filter((r) => r !== 'member'))];
    const unknown = validateRoleNames(roles, 'site');
    if (unknown.length > 0) throw ApiError.field('roles', `unknown site role(s): ${unknown.join(', ')}`);
    const denied = checkRoleChange(auth.subject, [], roles);
    if (denied) throw ApiError.forbidden(`You are not allowed to assign the role "${denied.role}".`);
    const requested = dto.organization_ids?.length
      ? dto.organization_ids
      : dto.organization_id
        ? [dto.organization_id]
        : [];
    const orgIds = [...new Set(requested.map((id) => id.toLowerCase()))];
    const hashed = dto.password ? await hashPassword(dto.password) : Buffer.alloc(0);
    const userId = randomUUID();
    await inTransaction(this.ds, async (em) => {
      const targetOrgs = orgIds.length
        ? await em.query(`SELECT id FROM organizations WHERE id = ANY($1::uuid[]) AND NOT deleted`, [orgIds])
        : await em.query(`SELECT id FROM organizations WHERE is_default AND NOT deleted`);
      if (orgIds.length && targetOrgs.length !== orgIds.length) {
        const found = new Set(targetOrgs.map((r: { id: string }) => r.id));
        throw ApiError.field(
          'organization_ids',
          `organization(s) not found: ${orgIds.filter((id) => !found.has(id)).join(', ')}`,
        );
      }
      for (const { id } of targetOrgs as { id: string }[])
        assertCan(
          auth,
          'create',
          Objects.member(id, userId),
          'You are not allowed to add members to this organization.',
        );
      try {
        await em.query(
          `INSERT INTO users (id, email, username, name, hashed_password, status, login_type, rbac_roles, is_service_account)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            userId,
            dto.email,
            dto.username,
            dto.name ?? '',
            hashed,
            dto.user_status ?? 'dormant',
            loginType,
            roles,
            dto.service_account ?? false,
          ],
        );
      } catch (e) {
        throw this.mapUserConflict(e);
      }
      for (const { id } of targetOrgs as { id: string }[]) {
        await em.query(
          `INSERT INTO organization_members (organization_id, user_id, roles) VALUES ($1, $2, '{}')`,
          [id, userId],
        );
      }
    });
    return this.getUser(auth, userId);
  }

  /** `ref` is `me`, a uuid or a username; invisible users are 404. */
  async resolve(
    auth: AuthContext,
    ref: string,
    em: Pick<EntityManager, 'query'> = this.ds,
  ): Promise<UserRecord> {
    const user = await findUser(em, ref === 'me' ? auth.userId : ref);
    if (!user) throw ApiError.notFound();
    assertVisible(auth, 'read', Objects.user(user.id));
    return user;
  }

  async getUser(auth: AuthContext, ref: string): Promise<User> {
    const user = await this.resolve(auth, ref);
    return toUser(user, await aiSeatHolders(this.ds, [user.id]));
  }

  async listUsers(
    auth: AuthContext,
    search: UserSearch,
    page: Page,
  ): Promise<{ users: User[]; count: number }> {
    const { users, count } = await listUsers(
      this.ds,
      search,
      page,
      sqlFilter(auth, 'read', 'user', { idCol: 'u.id', ownerCol: 'u.id' }),
    );
    const seats = await aiSeatHolders(
      this.ds,
      users.map((u) => u.id),
    );
    return { users: users.map((u) => toUser(u, seats)), count };
  }

  async getRoles(auth: AuthContext, ref: string): Promise<UserRoles> {
    const user = await this.resolve(auth, ref);
    const rows: { organization_id: string; roles: string[] }[] = await this.ds.query(
      `SELECT organization_id, roles FROM organization_members WHERE user_id = $1`,
      [user.id],
    );
    return {
      roles: user.rbac_roles,
      organization_roles: Object.fromEntries(
        rows.map((r) => [r.organization_id, ['organization-member', ...r.roles]]),
      ),
    };
  }

  async updateRoles(auth: AuthContext, ref: string, roles: string[]): Promise<User> {
    const wanted = [...new Set(roles.filter((r) => r !== 'member'))];
    const unknown = validateRoleNames(wanted, 'site');
    if (unknown.length > 0) throw ApiError.field('roles', `unknown site role(s): ${unknown.join(', ')}`);
    const id = await inTransaction(this.ds, async (em) => {
      const user = await this.resolve(auth, ref, em);
      if (user.id === auth.userId) throw new ApiError('bad_request', 'You cannot change your own roles.');
      const [locked] = await em.query(`SELECT rbac_roles FROM users WHERE id = $1 FOR UPDATE`, [user.id]);
      const denied = checkRoleChange(auth.subject, locked.rbac_roles, wanted);
      if (denied)
        throw ApiError.forbidden(`You are not allowed to ${denied.action} the role "${denied.role}".`);
      await em.query(`UPDATE users SET rbac_roles = $2, updated_at = now() WHERE id = $1`, [user.id, wanted]);
      return user.id;
    });
    return this.getUser(auth, id);
  }

  private mapUserConflict(e: unknown): unknown {
    if (pgErrorCode(e) !== PG_UNIQUE_VIOLATION) return e;
    const field = pgConstraint(e) === 'idx_users_email' ? 'email' : 'username';
    return new ApiError('conflict', 'User already exists.', undefined, [
      { field, detail: `this ${field} is already in use` },
    ]);
  }
}
