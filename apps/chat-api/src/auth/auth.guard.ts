// Global guard: every route needs a valid credential unless marked @Public().
import { CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { HealthController } from '@agentmesh/observability';
import { AuthService, extractToken } from './auth.service';
import { AuthContext } from './auth.types';

const PUBLIC = 'agentmesh:public';
export const Public = () => SetMetadata(PUBLIC, true);

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    // Probes and metrics are unauthenticated by design (they expose no user data).
    if (ctx.getClass() === HealthController) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    req.auth = await this.auth.authenticate(extractToken(req));
    return true;
  }
}

/** The authenticated caller (routes behind AuthGuard only). */
export const Auth = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthContext => {
  const req = ctx.switchToHttp().getRequest<FastifyRequest>();
  if (!req.auth) throw new Error('Auth used on a public route');
  return req.auth;
});
