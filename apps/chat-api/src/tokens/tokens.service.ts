// API tokens and sessions. Both are api_keys rows: sessions come from login (login_type
// password, SESSION_DURATION), tokens from /keys/tokens (login_type token, named, scoped,
// up to MAX_TOKEN_LIFETIME). The plaintext key is returned once and never stored.
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APIKey, wireTime } from '@agentmesh/contracts';
import { pgErrorCode, PG_UNIQUE_VIOLATION, queryRows } from '@agentmesh/db';
import { isScopeName } from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { AuthContext } from '../auth/auth.types';
import { assertCan, Objects } from '../auth/authz';
import { generateApiKey, parseAllowList } from '../auth/api-keys';
import { UsersService } from '../users/users.service';
import { CreateTokenDto } from '../users/dto/create-token.dto';

export const TOKEN_CONFIG = Symbol('agentmesh.tokens.config');
export interface TokenConfig {
  sessionDurationMs: number;
  maxTokenLifetimeMs: number;
}

/** Lifetime of a token created without one (30 days, capped by the configured maximum). */
export const DEFAULT_TOKEN_LIFETIME_MS = 30 * 86_400_000;
const STORED_SCOPES = new Set([
  'all',
  'application_connect',
  'coder:all',
  'coder:application_connect',
  'chat:create',
  'chat:read',
  'chat:update',
  'chat:delete',
  'chat:*',
]);

interface KeyRow {
  id: string;
  user_id: string;
  last_used: Date;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
  login_type: APIKey['login_type'];
  scopes: string[];
  token_name: string;
  lifetime_seconds: string;
  allow_list: string[];
}

@Injectable()
export class TokensService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    private readonly users: UsersService,
    @Inject(TOKEN_CONFIG) private readonly cfg: TokenConfig,
  ) {}

  /** Inserts a key row and returns the plaintext `<id>-<secret>`. */
  async issue(
    userId: string,
    opts: {
      loginType: 'password' | 'token';
      lifetimeMs: number;
      tokenName?: string;
      scopes?: string[];
      allowList?: string[];
      ip?: string;
    },
  ): Promise<{ key: string; expiresAt: Date }> {
    const key = generateApiKey();
    const [row] = await this.ds.query(
      `INSERT INTO api_keys (id, hashed_secret, user_id, expires_at, login_type, lifetime_seconds, scopes, token_name, allow_list, ip_address)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision / 1000), $5, $6, $7::api_key_scope[], $8, $9, $10)
       RETURNING expires_at`,
      [
        key.id,
        key.hashedSecret,
        userId,
        opts.lifetimeMs,
        opts.loginType,
        Math.floor(opts.lifetimeMs / 1000),
        opts.scopes ?? ['coder:all'],
        opts.tokenName ?? '',
        opts.allowList ?? ['*:*'],
        opts.ip ?? null,
      ],
    );
    return { key: key.token, expiresAt: row.expires_at };
  }

  async createToken(auth: AuthContext, ref: string, dto: CreateTokenDto): Promise<{ key: string }> {
    const user = await this.users.resolve(auth, ref);
    assertCan(auth, 'create', Objects.apiKey(user.id), 'You are not allowed to create tokens for this user.');
    assertUnrestricted(auth);
    const lifetimeMs = dto.lifetime
      ? Math.floor(dto.lifetime / 1e6)
      : Math.min(DEFAULT_TOKEN_LIFETIME_MS, this.cfg.maxTokenLifetimeMs);
    if (dto.lifetime !== undefined && dto.lifetime > 0 && lifetimeMs < 1000)
      throw ApiError.field('lifetime', 'must be at least one second');
    if (lifetimeMs > this.cfg.maxTokenLifetimeMs) {
      throw ApiError.field(
        'lifetime',
        `must be at most ${Math.floor(this.cfg.maxTokenLifetimeMs / 3_600_000)}h (the deployment's maximum token lifetime)`,
      );
    }
    const scopes = dto.scopes?.length ? dto.scopes : dto.scope ? [dto.scope] : ['coder:all'];
    const bad = scopes.filter((s) => !STORED_SCOPES.has(s) || !isScopeName(s));
    if (bad.length > 0) throw ApiError.field('scopes', `unsupported scope(s): ${bad.join(', ')}`);
    const allowList = (dto.allow_list ?? []).map((e) => `${e.type}:${e.id}`);
    const tokenName = dto.token_name || `token-${Date.now().toString(36)}`;
    try {
      const { key } = await this.issue(user.id, {
        loginType: 'token',
        lifetimeMs,
        tokenName,
        scopes,
        allowList: allowList.length ? allowList : undefined,
      });
      return { key };
    } catch (e) {
      if (pgErrorCode(e) === PG_UNIQUE_VIOLATION) {
        throw new ApiError('conflict', `A token with name "${tokenName}" already exists.`, undefined, [
          { field: 'token_name', detail: 'must be unique per user' },
        ]);
      }
      throw e;
    }
  }

  async createSessionKey(auth: AuthContext, ref: string): Promise<{ key: string }> {
    const user = await this.users.resolve(auth, ref);
    assertCan(auth, 'create', Objects.apiKey(user.id), 'You are not allowed to create keys for this user.');
    assertUnrestricted(auth);
    const { key } = await this.issue(user.id, {
      loginType: 'password',
      lifetimeMs: this.cfg.sessionDurationMs,
    });
    return { key };
  }

  async listTokens(auth: AuthContext, ref: string): Promise<APIKey[]> {
    const user = await this.users.resolve(auth, ref);
    assertCan(auth, 'read', Objects.apiKey(user.id), 'You are not allowed to read tokens of this user.');
    const rows: KeyRow[] = await this.ds.query(
      `SELECT id, user_id, last_used, expires_at, created_at, updated_at, login_type, scopes::text[] AS scopes, token_name,
              lifetime_seconds, allow_list
         FROM api_keys WHERE user_id = $1 AND login_type = 'token' ORDER BY created_at, id`,
      [user.id],
    );
    return rows.map(toApiKey);
  }

  async deleteKey(auth: AuthContext, ref: string, keyId: string): Promise<void> {
    const user = await this.users.resolve(auth, ref);
    assertCan(
      auth,
      'delete',
      Objects.apiKey(user.id, keyId),
      'You are not allowed to delete keys of this user.',
    );
    const rows = await queryRows(
      this.ds,
      `DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING id`,
      [keyId, user.id],
    );
    if (rows.length === 0) throw ApiError.notFound();
  }
}

/** A scoped or allow-listed key must not mint a key with more reach than itself. */
function assertUnrestricted(auth: AuthContext): void {
  if (!auth.fullScope)
    throw ApiError.forbidden(
      'A scoped API key cannot create other keys; use a session or an unscoped token.',
    );
}

function toApiKey(r: KeyRow): APIKey {
  return {
    id: r.id,
    user_id: r.user_id,
    last_used: wireTime(r.last_used),
    expires_at: wireTime(r.expires_at),
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
    login_type: r.login_type,
    scope:
      r.scopes.includes('coder:application_connect') || r.scopes.includes('application_connect')
        ? 'application_connect'
        : 'all',
    scopes: r.scopes,
    token_name: r.token_name,
    lifetime_seconds: Number(r.lifetime_seconds),
    allow_list: parseAllowList(r.allow_list),
  };
}
