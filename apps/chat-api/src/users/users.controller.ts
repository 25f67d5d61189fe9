// /api/v2/users: first-user setup, user CRUD reads and site roles.
import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import {
  CreateFirstUserResponse,
  GetUsersResponse,
  LOGIN_TYPES,
  User,
  USER_STATUSES,
  UserRoles,
  ValidationError,
} from '@agentmesh/contracts';
import { Auth, Public } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { checkRef } from '../http/params';
import { parsePagination, parseSearchQuery, RawQuery, searchParam, throwIfProblems } from '../http/query';
import { CreateFirstUserDto } from './dto/create-first-user.dto';
import { CreateUserDto } from './dto/create-user.dto';
import { UpdateRolesDto } from './dto/update-roles.dto';
import { UsersService } from './users.service';

const USER_QUERY_KEYS = ['search', 'name', 'username', 'email', 'status', 'role', 'login_type'] as const;
export const USERS_MAX_LIMIT = 1000;

@Controller('api/v2/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Public()
  @Get('first')
  async firstUserExists(@Res({ passthrough: true }) reply: FastifyReply): Promise<{ message: string }> {
    if (!(await this.users.hasFirstUser())) {
      reply.status(404);
      return { message: 'The initial user has not been created!' };
    }
    return { message: 'The initial user has already been created!' };
  }

  @Public()
  @Post('first')
  @HttpCode(201)
  createFirstUser(@Body() dto: CreateFirstUserDto): Promise<CreateFirstUserResponse> {
    return this.users.createFirstUser(dto);
  }

  @Get()
  list(@Auth() auth: AuthContext, @Query() query: RawQuery): Promise<GetUsersResponse> {
    const problems: ValidationError[] = [];
    const page = parsePagination(
      query,
      { defaultLimit: USERS_MAX_LIMIT, maxLimit: USERS_MAX_LIMIT },
      problems,
    );
    const q = searchParam(query, problems);
    const terms = parseSearchQuery(q, USER_QUERY_KEYS, problems);
    const statuses = terms.get('status') ?? [];
    for (const s of statuses) {
      if (!(USER_STATUSES as readonly string[]).includes(s))
        problems.push({ field: 'status', detail: `"${s}" is not a valid user status` });
    }
    const loginTypes = terms.get('login_type') ?? [];
    for (const t of loginTypes) {
      if (!(LOGIN_TYPES as readonly string[]).includes(t))
        problems.push({ field: 'login_type', detail: `"${t}" is not a valid login type` });
    }
    throwIfProblems(problems);
    return this.users.listUsers(
      auth,
      {
        search: terms.get('search')?.join(' '),
        name: terms.get('name')?.join(' '),
        username: terms.get('username')?.[0],
        email: terms.get('email')?.[0],
        statuses,
        roles: terms.get('role'),
        loginTypes,
      },
      page,
    );
  }

  @Post()
  @HttpCode(201)
  create(@Auth() auth: AuthContext, @Body() dto: CreateUserDto): Promise<User> {
    return this.users.createUser(auth, dto);
  }

  @Get(':user')
  get(@Auth() auth: AuthContext, @Param('user') ref: string): Promise<User> {
    return this.users.getUser(auth, checkRef(ref));
  }

  @Get(':user/roles')
  roles(@Auth() auth: AuthContext, @Param('user') ref: string): Promise<UserRoles> {
    return this.users.getRoles(auth, checkRef(ref));
  }

  @Put(':user/roles')
  updateRoles(
    @Auth() auth: AuthContext,
    @Param('user') ref: string,
    @Body() dto: UpdateRolesDto,
  ): Promise<User> {
    return this.users.updateRoles(auth, checkRef(ref), dto.roles);
  }
}
