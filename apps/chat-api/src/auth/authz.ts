// Authorization helpers over @agentmesh/rbac for controllers and services: object builders
// for the identity resources and assertions that raise the reference's status codes
// (404 when the caller may not even see the object, 403 when it may).
import {
  ActionOf,
  authorize,
  compileSqlFilter,
  RbacObject,
  ResourceType,
  SqlFilterColumns,
} from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { AuthContext } from './auth.types';

export const Objects = {
  user: (id: string): RbacObject<'user'> => ({ type: 'user', id, owner: id, orgOwner: '' }),
  anyUser: (): RbacObject<'user'> => ({ type: 'user', id: '', owner: '', orgOwner: '' }),
  apiKey: (ownerId: string, id = ''): RbacObject<'api_key'> => ({
    type: 'api_key',
    id,
    owner: ownerId,
    orgOwner: '',
  }),
  organization: (id: string): RbacObject<'organization'> => ({
    type: 'organization',
    id,
    owner: '',
    orgOwner: id,
  }),
  member: (orgId: string, userId: string): RbacObject<'organization_member'> => ({
    type: 'organization_member',
    id: userId,
    owner: userId,
    orgOwner: orgId,
  }),
};

export function can<T extends ResourceType>(
  auth: AuthContext,
  action: ActionOf<T>,
  obj: RbacObject<T>,
): boolean {
  return authorize(auth.subject, action, obj);
}

/** 403 when denied: use where the caller already knows the object exists. */
export function assertCan<T extends ResourceType>(
  auth: AuthContext,
  action: ActionOf<T>,
  obj: RbacObject<T>,
  detail?: string,
): void {
  if (!can(auth, action, obj))
    throw ApiError.forbidden(
      detail ?? `You are not allowed to ${action} this ${obj.type.replace(/_/g, ' ')}.`,
    );
}

/** 404 when denied: use where the object's existence must not leak. */
export function assertVisible<T extends ResourceType>(
  auth: AuthContext,
  action: ActionOf<T>,
  obj: RbacObject<T>,
): void {
  if (!can(auth, action, obj)) throw ApiError.notFound();
}

export function sqlFilter<T extends ResourceType>(
  auth: AuthContext,
  action: ActionOf<T>,
  type: T,
  cols: SqlFilterColumns,
) {
  return (offset: number) => compileSqlFilter(auth.subject, action, type, cols, offset);
}
