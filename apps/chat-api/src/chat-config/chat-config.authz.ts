// Who may manage chat configuration: "admin" means update permission on deployment_config
// (wire contract §4); reading the provider list needs read on it.
import type { RbacObject } from '@agentmesh/rbac';
import { AuthContext } from '../auth/auth.types';
import { assertCan, can } from '../auth/authz';

const DEPLOYMENT_CONFIG: RbacObject<'deployment_config'> = {
  type: 'deployment_config',
  id: '',
  owner: '',
  orgOwner: '',
};

export const canReadDeploymentConfig = (auth: AuthContext): boolean => can(auth, 'read', DEPLOYMENT_CONFIG);

export const canUpdateDeploymentConfig = (auth: AuthContext): boolean =>
  can(auth, 'update', DEPLOYMENT_CONFIG);

/** 403 unless the caller may read deployment config. */
export function assertConfigReader(auth: AuthContext): void {
  assertCan(auth, 'read', DEPLOYMENT_CONFIG, 'You are not allowed to read the chat configuration.');
}

/** 403 unless the caller may update deployment config. */
export function assertConfigAdmin(auth: AuthContext): void {
  assertCan(auth, 'update', DEPLOYMENT_CONFIG, 'You are not allowed to change the chat configuration.');
}
