// Resolves a request's credential to an AuthContext in one query (key, user, memberships,
// groups), checks expiry and status, and touches last_used/last_seen_at at most once a
// minute so a busy client does not turn every read into a write.
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '@agentmesh/observability';
import { DataSource } from 'typeorm';
import type { FastifyRequest } from 'fastify';
import { ErrorMessages, UserStatus } from '@agentmesh/contracts';
import { expandRoles, scopeFromNames, Subject } from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { parseCookies, SESSION_COOKIE } from '../http/cookies';
import { parseAllowList, parseApiKey, secretMatches } from './api-keys';
import { AuthContext } from './auth.types';

const TOUCH_INTERVAL_MS = 60_000;

interface KeyRow {
  user_id: string;
  username: string;
  status: UserStatus;
  rbac_roles: string[];
  hashed_secret: Buffer;
  expires_at: Date;
  last_used: Date;
  last_seen_at: Date;
  scopes: string[];
  allow_list: string[];
  orgs: { org: string; roles: string[] }[];
  groups: string[];
}

/** Every place a client may put its token, in precedence order. */
export function extractToken(req: Pick<FastifyRequest, 'headers' | 'query'>): string | undefined {
  const header = req.headers['coder-session-token'];
  if (typeof header === 'string' && header) return header;
  const cookie = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  if (cookie) return cookie;
  const authz = req.headers.authorization;
  if (typeof authz === 'string' && /^bearer\s+/i.test(authz)) return authz.replace(/^bearer\s+/i, '').trim();
  const q = (req.query as Record<string, unknown> | undefined)?.[SESSION_COOKIE];
  if (typeof q === 'string' && q) return q;
  return undefined;
}

@Injectable()
export class AuthService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async authenticate(token: string | undefined): Promise<AuthContext> {
    if (!token)
      throw new ApiError(
        'unauthenticated',
        ErrorMessages.unauthenticated,
        'Provide a session token in the Coder-Session-Token header.',
      );
    const parsed = parseApiKey(token);
    if (!parsed)
      throw new ApiError('unauthenticated', ErrorMessages.invalidSessionToken, 'The API key is malformed.');
    const rows: KeyRow[] = await this.ds.query(
      `SELECT u.id AS user_id, u.username, u.status, u.rbac_roles, u.last_seen_at,
              k.hashed_secret, k.expires_at, k.last_used, k.scopes::text[] AS scopes, k.allow_list,
              COALESCE((SELECT json_agg(json_build_object('org', m.organization_id, 'roles', m.roles))
                          FROM organization_members m WHERE m.user_id = u.id), '[]') AS orgs,
              COALESCE((SELECT array_agg(gm.group_id::text) FROM group_members gm WHERE gm.user_id = u.id), '{}') AS groups
         FROM api_keys k JOIN users u ON u.id = k.user_id
        WHERE k.id = $1 AND NOT u.deleted`,
      [parsed.id],
    );
    const row = rows[0];
    if (!row || !secretMatches(parsed.secret, row.hashed_secret)) {
      throw new ApiError(
        'unauthenticated',
        ErrorMessages.invalidSessionToken,
        'The API key is invalid or was deleted.',
      );
    }
    const now = Date.now();
    if (row.expires_at.getTime() <= now)
      throw new ApiError(
        'unauthenticated',
        ErrorMessages.sessionExpired,
        `The API key expired at ${row.expires_at.toISOString()}.`,
      );
    if (row.status === 'suspended') {
      throw new ApiError(
        'unauthenticated',
        'Your account is suspended. Contact an admin to reactivate your account.',
      );
    }
    if (
      now - row.last_used.getTime() > TOUCH_INTERVAL_MS ||
      now - row.last_seen_at.getTime() > TOUCH_INTERVAL_MS
    ) {
      // Off the request path; the conditions keep concurrent requests from all writing.
      this.ds
        .query(
          `WITH k AS (UPDATE api_keys SET last_used = now() WHERE id = $1 AND last_used < now() - interval '1 minute')
           UPDATE users SET last_seen_at = now(), status = CASE WHEN status = 'dormant' THEN 'active'::user_status ELSE status END
            WHERE id = $2 AND last_seen_at < now() - interval '1 minute'`,
          [parsed.id, row.user_id],
        )
        .catch((e: unknown) => this.logger.warn({ err: e }, 'could not record key use'));
    }
    const orgRoles: Record<string, string[]> = {};
    for (const m of row.orgs) orgRoles[m.org] = m.roles;
    const subject: Subject = {
      id: row.user_id,
      roles: expandRoles(row.rbac_roles, orgRoles),
      groups: row.groups,
      scope: scopeFromNames(row.scopes, parseAllowList(row.allow_list)),
    };
    return {
      userId: row.user_id,
      username: row.username,
      status: row.status,
      apiKeyId: parsed.id,
      subject,
      orgRoles,
      siteRoles: row.rbac_roles,
      fullScope:
        row.scopes.every((sc) => sc === 'all' || sc === 'coder:all') &&
        row.allow_list.length === 1 &&
        row.allow_list[0] === '*:*',
    };
  }
}
