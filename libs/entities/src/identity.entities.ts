// TypeORM entities of the identity tables (migration 1763700000000-Identity).
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { LoginType, UserStatus } from '@agentmesh/contracts';

@Entity('users')
export class UserEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') email!: string;
  @Column('text') username!: string;
  @Column('text', { default: '' }) name!: string;
  @Column('text', { name: 'avatar_url', default: '' }) avatarUrl!: string;
  @Column('bytea', { name: 'hashed_password', select: false }) hashedPassword!: Buffer;
  @Column({ type: 'enum', enum: ['active', 'suspended', 'dormant'], enumName: 'user_status' })
  status!: UserStatus;
  @Column({
    type: 'enum',
    enum: ['password', 'github', 'oidc', 'token', 'none'],
    enumName: 'login_type',
    name: 'login_type',
  })
  loginType!: Exclude<LoginType, ''>;
  @Column('text', { array: true, name: 'rbac_roles' }) rbacRoles!: string[];
  @Column('boolean', { name: 'is_service_account' }) isServiceAccount!: boolean;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
  @Column('timestamptz', { name: 'last_seen_at' }) lastSeenAt!: Date;
  @Column('boolean') deleted!: boolean;
}

@Entity('organizations')
export class OrganizationEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'display_name' }) displayName!: string;
  @Column('text') description!: string;
  @Column('text') icon!: string;
  @Column('boolean', { name: 'is_default' }) isDefault!: boolean;
  @Column('boolean') deleted!: boolean;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity('organization_members')
export class OrganizationMemberEntity {
  @PrimaryColumn('uuid', { name: 'organization_id' }) organizationId!: string;
  @PrimaryColumn('uuid', { name: 'user_id' }) userId!: string;
  @Column('text', { array: true }) roles!: string[];
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity('groups')
export class GroupEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'display_name' }) displayName!: string;
  @Column('uuid', { name: 'organization_id' }) organizationId!: string;
  @Column('text', { name: 'avatar_url' }) avatarUrl!: string;
  @Column('integer', { name: 'quota_allowance' }) quotaAllowance!: number;
  @Column('text') source!: 'user' | 'oidc';
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
}

@Entity('group_members')
export class GroupMemberEntity {
  @PrimaryColumn('uuid', { name: 'group_id' }) groupId!: string;
  @PrimaryColumn('uuid', { name: 'user_id' }) userId!: string;
}

@Entity('api_keys')
export class ApiKeyEntity {
  @PrimaryColumn('text') id!: string;
  @Column('bytea', { name: 'hashed_secret', select: false }) hashedSecret!: Buffer;
  @Column('uuid', { name: 'user_id' }) userId!: string;
  @Column('timestamptz', { name: 'last_used' }) lastUsed!: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt!: Date;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
  @Column({
    type: 'enum',
    enum: ['password', 'github', 'oidc', 'token', 'none'],
    enumName: 'login_type',
    name: 'login_type',
  })
  loginType!: Exclude<LoginType, ''>;
  @Column('bigint', { name: 'lifetime_seconds' }) lifetimeSeconds!: string;
  @Column('inet', { name: 'ip_address', nullable: true }) ipAddress!: string | null;
  @Column('text', { array: true }) scopes!: string[];
  @Column('text', { name: 'token_name' }) tokenName!: string;
  @Column('text', { array: true, name: 'allow_list' }) allowList!: string[];
}

@Entity('site_configs')
export class SiteConfigEntity {
  @PrimaryColumn('varchar', { length: 256 }) key!: string;
  @Column('text') value!: string;
}

@Entity('user_configs')
export class UserConfigEntity {
  @PrimaryColumn('uuid', { name: 'user_id' }) userId!: string;
  @PrimaryColumn('varchar', { length: 256 }) key!: string;
  @Column('text') value!: string;
}

@Entity('telemetry_items')
export class TelemetryItemEntity {
  @PrimaryColumn('text') key!: string;
  @Column('text') value!: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity('event_outbox')
export class EventOutboxEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column('text') subject!: string;
  @Column('text', { name: 'msg_id' }) msgId!: string;
  @Column('jsonb') payload!: unknown;
  @Column('jsonb') headers!: Record<string, string>;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('integer') attempts!: number;
  @Column('text', { name: 'last_error', nullable: true }) lastError!: string | null;
}

export const IDENTITY_ENTITIES = [
  UserEntity,
  OrganizationEntity,
  OrganizationMemberEntity,
  GroupEntity,
  GroupMemberEntity,
  ApiKeyEntity,
  SiteConfigEntity,
  UserConfigEntity,
  TelemetryItemEntity,
  EventOutboxEntity,
];
