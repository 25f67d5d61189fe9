// What an authenticated request carries: the user, the key that authenticated it and the
// RBAC subject built from the user's roles, memberships, groups and the key's scope.
import type { Subject } from '@agentmesh/rbac';
import type { UserStatus } from '@agentmesh/contracts';

export interface AuthContext {
  userId: string;
  username: string;
  status: UserStatus;
  apiKeyId: string;
  subject: Subject;
  /** Org id → stored org role names (without the implicit organization-member). */
  orgRoles: Record<string, string[]>;
  siteRoles: string[];
  /** The credential is unrestricted (scope all, allow list *:*): it may mint other keys. */
  fullScope: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
}
