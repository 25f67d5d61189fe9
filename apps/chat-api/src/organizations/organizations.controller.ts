// /api/v2/organizations and /api/v2/users/{user}/organizations.
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  Organization,
  OrganizationMember,
  OrganizationMemberWithUserData,
  PaginatedMembersResponse,
  ValidationError,
} from '@agentmesh/contracts';
import { isUuid } from '@agentmesh/entities';
import { Auth } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { parsePagination, parseSearchQuery, RawQuery, searchParam, throwIfProblems } from '../http/query';
import { UpdateRolesDto } from '../users/dto/update-roles.dto';
import { checkRef } from '../http/params';
import { MemberFilter, OrganizationsService } from './organizations.service';

const MEMBERS_MAX_LIMIT = 1000;

@Controller('api/v2')
export class OrganizationsController {
  constructor(private readonly orgs: OrganizationsService) {}

  @Get('organizations')
  list(@Auth() auth: AuthContext): Promise<Organization[]> {
    return this.orgs.list(auth);
  }

  @Get('users/:user/organizations')
  listForUser(@Auth() auth: AuthContext, @Param('user') ref: string): Promise<Organization[]> {
    return this.orgs.list(auth, checkRef(ref));
  }

  @Get('organizations/:org')
  get(@Auth() auth: AuthContext, @Param('org') org: string): Promise<Organization> {
    return this.orgs.get(auth, checkRef(org));
  }

  @Get('organizations/:org/members')
  async members(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Query() query: RawQuery,
  ): Promise<OrganizationMemberWithUserData[]> {
    const problems: ValidationError[] = [];
    const filter = parseMemberFilter(query, problems);
    throwIfProblems(problems);
    return (await this.orgs.members(auth, checkRef(org), filter)).members;
  }

  @Get('organizations/:org/paginated-members')
  paginated(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Query() query: RawQuery,
  ): Promise<PaginatedMembersResponse> {
    const problems: ValidationError[] = [];
    const page = parsePagination(
      query,
      { defaultLimit: MEMBERS_MAX_LIMIT, maxLimit: MEMBERS_MAX_LIMIT },
      problems,
    );
    if (page.afterId) {
      problems.push({
        field: 'after_id',
        detail: 'Query param "after_id" is not supported here; use offset',
      });
    }
    const filter = parseMemberFilter(query, problems);
    throwIfProblems(problems);
    return this.orgs.members(auth, checkRef(org), { ...filter, limit: page.limit, offset: page.offset });
  }

  @Get('organizations/:org/members/:user')
  member(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Param('user') user: string,
  ): Promise<OrganizationMemberWithUserData> {
    return this.orgs.member(auth, checkRef(org), checkRef(user));
  }

  @Post('organizations/:org/members/:user')
  @HttpCode(200)
  add(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Param('user') user: string,
  ): Promise<OrganizationMember> {
    return this.orgs.addMember(auth, checkRef(org), checkRef(user));
  }

  @Delete('organizations/:org/members/:user')
  @HttpCode(204)
  async remove(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Param('user') user: string,
  ): Promise<void> {
    await this.orgs.removeMember(auth, checkRef(org), checkRef(user));
  }

  @Put('organizations/:org/members/:user/roles')
  roles(
    @Auth() auth: AuthContext,
    @Param('org') org: string,
    @Param('user') user: string,
    @Body() dto: UpdateRolesDto,
  ): Promise<OrganizationMember> {
    return this.orgs.updateMemberRoles(auth, checkRef(org), checkRef(user), dto.roles);
  }
}

/** `q` of the member lists: free text (username or email), `user_id:`, `include_system:`, `github_user_id:`. */
function parseMemberFilter(query: RawQuery, problems: ValidationError[]): MemberFilter {
  const terms = parseSearchQuery(
    searchParam(query, problems),
    ['user_id', 'include_system', 'github_user_id'],
    problems,
  );
  const userId = terms.get('user_id')?.[0];
  if (userId !== undefined && !isUuid(userId))
    problems.push({ field: 'user_id', detail: `"${userId}" is not a valid uuid` });
  const system = terms.get('include_system')?.[0];
  if (system !== undefined && system !== 'true' && system !== 'false') {
    problems.push({ field: 'include_system', detail: 'must be true or false' });
  }
  return {
    userId,
    search: terms.get('search')?.join(' '),
    // agentmesh has no GitHub-linked accounts: a GitHub user id matches no member.
    noMatch: terms.has('github_user_id'),
  };
}
