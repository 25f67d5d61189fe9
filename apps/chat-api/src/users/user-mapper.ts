// Row → wire mapping for users.
import { User, wireTime } from '@agentmesh/contracts';
import type { UserRecord } from '@agentmesh/entities';
import { slimRole } from '@agentmesh/rbac';

export function toUser(r: UserRecord): User {
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
    // AI seats are computed from AI Bridge interceptions, which this schema does not record yet.
    has_ai_seat: false,
  };
}
