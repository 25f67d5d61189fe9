// A typed client for the agentmesh HTTP API (the subset of codersdk we implement). Errors
// surface as ApiClientError carrying the status and the decoded error body.
import type { ApiErrorBody } from './errors';
import type {
  APIKey,
  CreateFirstUserRequest,
  CreateFirstUserResponse,
  CreateTokenRequest,
  CreateUserRequestWithOrgs,
  GenerateAPIKeyResponse,
  GetUsersResponse,
  LoginWithPasswordRequest,
  LoginWithPasswordResponse,
  Organization,
  OrganizationMember,
  OrganizationMemberWithUserData,
  PaginatedMembersResponse,
  User,
  UserRoles,
} from './users';

export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly headers: Headers,
  ) {
    super(`${status}: ${body.message}`);
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export class AgentmeshClient {
  constructor(
    readonly baseUrl: string,
    public sessionToken?: string,
  ) {}

  /** Any request; never throws on HTTP status (tests inspect error responses with it). */
  async raw(
    method: string,
    path: string,
    opts: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.sessionToken && !('Coder-Session-Token' in headers))
      headers['Coder-Session-Token'] = this.sessionToken;
    let body: string | undefined = opts.rawBody;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] ??= 'application/json';
    }
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    if (text && res.headers.get('content-type')?.includes('json')) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: text ? parsed : undefined };
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, { body });
    if (res.status >= 400) throw new ApiClientError(res.status, res.body as ApiErrorBody, res.headers);
    return res.body as T;
  }

  hasFirstUser = async (): Promise<boolean> => (await this.raw('GET', '/api/v2/users/first')).status === 200;
  createFirstUser = (req: CreateFirstUserRequest) =>
    this.call<CreateFirstUserResponse>('POST', '/api/v2/users/first', req);
  login = async (req: LoginWithPasswordRequest): Promise<LoginWithPasswordResponse> => {
    const res = await this.call<LoginWithPasswordResponse>('POST', '/api/v2/users/login', req);
    this.sessionToken = res.session_token;
    return res;
  };
  logout = () => this.call<{ message: string }>('POST', '/api/v2/users/logout');
  user = (ref = 'me') => this.call<User>('GET', `/api/v2/users/${encodeURIComponent(ref)}`);
  users = (params: { q?: string; limit?: number; offset?: number; after_id?: string } = {}) =>
    this.call<GetUsersResponse>(
      'GET',
      `/api/v2/users?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]))}`,
    );
  createUser = (req: CreateUserRequestWithOrgs) => this.call<User>('POST', '/api/v2/users', req);
  userRoles = (ref = 'me') => this.call<UserRoles>('GET', `/api/v2/users/${encodeURIComponent(ref)}/roles`);
  updateUserRoles = (ref: string, roles: string[]) =>
    this.call<User>('PUT', `/api/v2/users/${encodeURIComponent(ref)}/roles`, { roles });
  createToken = (ref: string, req: CreateTokenRequest) =>
    this.call<GenerateAPIKeyResponse>('POST', `/api/v2/users/${encodeURIComponent(ref)}/keys/tokens`, req);
  tokens = (ref = 'me') => this.call<APIKey[]>('GET', `/api/v2/users/${encodeURIComponent(ref)}/keys/tokens`);
  organizations = () => this.call<Organization[]>('GET', '/api/v2/organizations');
  organization = (ref: string) =>
    this.call<Organization>('GET', `/api/v2/organizations/${encodeURIComponent(ref)}`);
  members = (org: string) =>
    this.call<OrganizationMemberWithUserData[]>(
      'GET',
      `/api/v2/organizations/${encodeURIComponent(org)}/members`,
    );
  paginatedMembers = (org: string, limit?: number, offset?: number) =>
    this.call<PaginatedMembersResponse>(
      'GET',
      `/api/v2/organizations/${encodeURIComponent(org)}/paginated-members?limit=${limit ?? 0}&offset=${offset ?? 0}`,
    );
  addMember = (org: string, user: string) =>
    this.call<OrganizationMember>(
      'POST',
      `/api/v2/organizations/${encodeURIComponent(org)}/members/${encodeURIComponent(user)}`,
    );
  updateMemberRoles = (org: string, user: string, roles: string[]) =>
    this.call<OrganizationMember>(
      'PUT',
      `/api/v2/organizations/${encodeURIComponent(org)}/members/${encodeURIComponent(user)}/roles`,
      { roles },
    );
}
