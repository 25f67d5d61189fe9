// The single-object check: may this subject do this action on this object? Pure and total (a
// boolean, never a throw), so callers decide whether a denial is a 403 or a 404.
//
//   allowed = (roles allow OR an ACL allows) AND the scope allows
import { isActionOf, type Action, type ActionOf, type ResourceType } from './actions-resources';
import { Ladder, ladderAllows, memberOrgs, type Vote } from './ladder';
import type { RbacObject, Role, Scope, Subject } from './model';

export function authorize<T extends ResourceType>(
  subject: Subject,
  action: ActionOf<T>,
  object: RbacObject<T>,
): boolean {
  // Untyped callers (JSON, tests) can still pass a verb the type does not have: deny it.
  if (!isActionOf(object.type, action)) return false;
  return (
    (rolesAllow(subject.id, subject.roles, action, object) || aclAllows(subject, action, object)) &&
    scopeAllows(subject.id, subject.scope, action, object)
  );
}

function best(votes: Vote[]): Vote {
  return votes.reduce<Vote>((a, b) => (b > a ? b : a), votes.length ? -1 : 0);
}

function rolesAllow(subjectId: string, roles: readonly Role[], action: Action, object: RbacObject): boolean {
  const ladder = new Ladder(roles, object.type, action);
  const owned = object.owner !== '' && object.owner === subjectId;
  // With anyOrg the object stands for "something in one of my orgs": it is org-owned, so the
  // user level never applies, and the subject's best org gives the verdict.
  const orgs = object.anyOrg ? ladder.orgs() : object.orgOwner !== '' ? [object.orgOwner] : [];
  const orgOwned = object.anyOrg === true || object.orgOwner !== '';
  return ladderAllows(
    ladder.site(),
    owned && !orgOwned ? ladder.user() : 0,
    best(orgs.map((o) => ladder.org(o))),
    owned ? best(orgs.map((o) => ladder.member(o))) : 0,
  );
}

function grants(actions: readonly string[] | undefined, action: Action): boolean {
  return actions !== undefined && (actions.includes(action) || actions.includes('*'));
}

function aclAllows(subject: Subject, action: Action, object: RbacObject): boolean {
  if (grants(object.aclUserList?.[subject.id], action)) return true;
  // Group grants (and the org's Everyone entry, keyed by the org id) only reach org members.
  const org = object.orgOwner;
  if (org === '' || !object.aclGroupList || !memberOrgs(subject.roles).includes(org)) return false;
  return [...subject.groups, org].some((g) => grants(object.aclGroupList?.[g], action));
}

function scopeAllows(subjectId: string, scope: Scope, action: Action, object: RbacObject): boolean {
  return rolesAllow(subjectId, [scope.role], action, object) && allowListed(scope, object);
}

function allowListed(scope: Scope, object: RbacObject): boolean {
  return scope.allowList.some(
    (e) => (e.type === '*' || e.type === object.type) && (e.id === '*' || e.id === object.id),
  );
}
