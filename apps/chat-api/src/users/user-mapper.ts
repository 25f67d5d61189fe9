// Row → wire mapping for users.
import { User, wireTime } from '@agentmesh/contracts';
import type { EntityManager } from 'typeorm';
import type { UserRecord } from '@agentmesh/entities';
import { slimRole } from '@agentmesh/rbac';

type Db = Pick<EntityManager, 'query'>;

/**
 * Which of `userIds` hold an AI seat: a user consumes one once AI Bridge has recorded any
 * interception for them (in flight or not). One query per page of users, one index probe
 * (idx_aibridge_interceptions_initiator_id) per id.
 */
export async function aiSeatHolders(db: Db, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows: { id: string }[] = await db.query(
    `SELECT u.id FROM unnest($1::uuid[]) AS u(id)
      WHERE EXISTS (SELECT 1 FROM aibridge_interceptions ai WHERE ai.initiator_id = u.id)`,
    [[...new Set(userIds)]],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * `aiSeats`: the ids, among the users being mapped, of those holding an AI seat (see
 * `aiSeatHolders`).
 */
export function toUser(r: UserRecord, aiSeats: ReadonlySet<string>): User {
  return {
    id: r.id,
    username: r.username,
    ...(r.name ? { name: r.name } : {}),
    ...(r.avatar_url ? { avatar_url: r.avatar_url } : {}),
    email: r.email,
    created_at: wireTime(r.created_at),
    updated_at: wireTime(r.updated_at),
    last_seen_at: wireTime(r.last_seen_at),
    status: r.status,
    login_type: r.login_type,
    ...(r.is_service_account ? { is_service_account: true } : {}),
    organization_ids: r.organization_ids,
    roles: r.rbac_roles.map((n) => slimRole(n)),
    has_ai_seat: aiSeats.has(r.id),
  };
}
