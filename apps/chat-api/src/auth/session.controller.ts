// Password login and logout. Login is rate limited per client IP and per account; failures
// do not reveal whether the account exists.
import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { ErrorMessages, LoginWithPasswordResponse } from '@agentmesh/contracts';
import { findUserByEmailWithPassword } from '@agentmesh/entities';
import { ApiError } from '../http/api-error';
import { clearedSessionCookie, sessionCookie } from '../http/cookies';
import { LoginDto } from '../users/dto/login.dto';
import { TokensService, TOKEN_CONFIG, TokenConfig } from '../tokens/tokens.service';
import { Auth, Public } from './auth.guard';
import { AuthContext } from './auth.types';
import { verifyPassword } from './passwords';
import { RateLimiter } from './rate-limiter';

export const SESSION_CONFIG = Symbol('agentmesh.session.config');
export interface SessionConfig {
  secureCookie: boolean;
  ipLimitPerMinute: number;
  accountLimitPerMinute: number;
}

@Controller('api/v2/users')
export class SessionController {
  private readonly byIp: RateLimiter;
  private readonly byAccount: RateLimiter;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly tokens: TokensService,
    @Inject(SESSION_CONFIG) private readonly cfg: SessionConfig,
    @Inject(TOKEN_CONFIG) private readonly tokenCfg: TokenConfig,
  ) {
    this.byIp = new RateLimiter(cfg.ipLimitPerMinute, 60_000);
    this.byAccount = new RateLimiter(cfg.accountLimitPerMinute, 60_000);
  }

  @Public()
  @Post('login')
  @HttpCode(201)
  async login(
    @Body() dto: LoginDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<LoginWithPasswordResponse> {
    // The IP is checked first: a client already over its limit must not keep counting
    // against (and so locking out) the accounts it names.
    const ipWait = this.byIp.hit(`ip:${req.ip}`);
    const wait = ipWait || this.byAccount.hit(`acct:${dto.email.toLowerCase()}`);
    if (wait > 0) {
      throw new ApiError('rate_limited', ErrorMessages.tooManyLogins, undefined, undefined, {
        'Retry-After': String(wait),
      });
    }
    const user = await findUserByEmailWithPassword(this.ds, dto.email);
    const ok = await verifyPassword(dto.password, user?.hashed_password);
    if (!user || !ok) throw new ApiError('unauthenticated', 'Incorrect email or password.');
    if (user.login_type !== 'password') {
      throw new ApiError(
        'forbidden',
        `Incorrect login type, attempting to use "password" but user is of login type "${user.login_type}".`,
      );
    }
    if (user.status === 'suspended')
      throw new ApiError(
        'unauthenticated',
        'Your account is suspended. Contact an admin to reactivate your account.',
      );
    if (user.status === 'dormant')
      await this.ds.query(`UPDATE users SET status = 'active', updated_at = now() WHERE id = $1`, [user.id]);
    const { key, expiresAt } = await this.tokens.issue(user.id, {
      loginType: 'password',
      lifetimeMs: this.tokenCfg.sessionDurationMs,
      ip: req.ip,
    });
    reply.header('Set-Cookie', sessionCookie(key, expiresAt, this.cfg.secureCookie));
    return { session_token: key };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(
    @Auth() auth: AuthContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ message: string }> {
    await this.ds.query(`DELETE FROM api_keys WHERE id = $1`, [auth.apiKeyId]);
    reply.header('Set-Cookie', clearedSessionCookie(this.cfg.secureCookie));
    return { message: 'Logged out!' };
  }
}
