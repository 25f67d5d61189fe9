// Users, organizations, roles and tokens on the wire (codersdk equivalents, snake_case).
export const USER_STATUSES = ['active', 'dormant', 'suspended'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
export const LOGIN_TYPES = ['password', 'github', 'oidc', 'token', 'none'] as const;
export type LoginType = (typeof LOGIN_TYPES)[number] | '';

export interface SlimRole {
  name: string;
  display_name: string;
  organization_id?: string;
}

export interface MinimalUser {
  id: string;
  username: string;
  name?: string;
  avatar_url?: string;
}

export interface User extends MinimalUser {
  email: string;
  created_at: string;
  updated_at: string;
  last_seen_at: string;
  status: UserStatus;
  login_type: LoginType;
  is_service_account?: boolean;
  theme_preference?: string;
  organization_ids: string[];
  roles: SlimRole[];
  has_ai_seat: boolean;
}

export interface GetUsersResponse {
  users: User[];
  count: number;
}

export interface OnboardingInfo {
  newsletter_marketing: boolean;
  newsletter_releases: boolean;
}

export interface CreateFirstUserRequest {
  email: string;
  username: string;
  name?: string;
  password: string;
  trial?: boolean;
  trial_info?: Record<string, unknown>;
  onboarding_info?: OnboardingInfo;
}

export interface CreateFirstUserResponse {
  user_id: string;
  organization_id: string;
}

export interface LoginWithPasswordRequest {
  email: string;
  password: string;
}

export interface LoginWithPasswordResponse {
  session_token: string;
}

export interface CreateUserRequestWithOrgs {
  email: string;
  username: string;
  name?: string;
  password?: string;
  login_type?: LoginType;
  user_status?: UserStatus | null;
  organization_ids?: string[];
  organization_id?: string;
  service_account?: boolean;
  roles?: string[];
}

export interface UpdateRoles {
  roles: string[];
}

export interface UserRoles {
  roles: string[];
  organization_roles: Record<string, string[]>;
}

export interface CreateTokenRequest {
  lifetime?: number;
  scope?: string;
  scopes?: string[];
  token_name?: string;
  allow_list?: { type: string; id: string }[];
}

export interface GenerateAPIKeyResponse {
  key: string;
}

export interface APIKey {
  id: string;
  user_id: string;
  last_used: string;
  expires_at: string;
  created_at: string;
  updated_at: string;
  login_type: LoginType;
  scope: string;
  scopes: string[];
  token_name: string;
  lifetime_seconds: number;
  allow_list: { type: string; id: string }[];
}

export interface Organization {
  id: string;
  name: string;
  display_name: string;
  description: string;
  icon: string;
  created_at: string;
  updated_at: string;
  is_default: boolean;
}

export interface OrganizationMember {
  user_id: string;
  organization_id: string;
  created_at: string;
  updated_at: string;
  roles: SlimRole[];
}

export interface OrganizationMemberWithUserData extends OrganizationMember {
  username: string;
  name?: string;
  avatar_url?: string;
  email: string;
  status: UserStatus;
  login_type: LoginType;
  last_seen_at: string;
  user_created_at: string;
  user_updated_at: string;
  is_service_account?: boolean;
  global_roles: SlimRole[];
  has_ai_seat: boolean;
}

export interface PaginatedMembersResponse {
  members: OrganizationMemberWithUserData[];
  count: number;
}
