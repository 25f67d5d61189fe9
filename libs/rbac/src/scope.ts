// API key scopes: the ceiling on what a credential may do, whatever its user's roles allow.
// A scope is a role (checked with the same ladder) plus an allow list of objects. Named scopes:
// `all` / `coder:all` (everything), `application_connect` / `coder:application_connect`
// (only opening workspace apps), and low-level `<resource>:<action>` or `<resource>:*`.
import { isActionOf, isResourceType, WILDCARD } from './actions-resources';
import type { AllowListEntry, Permission, Scope } from './model';
import { allow } from './permissions';

const EVERYTHING: readonly AllowListEntry[] = [{ type: WILDCARD, id: WILDCARD }];

const NAMED: Readonly<Record<string, readonly Permission[]>> = {
  all: [{ negate: false, resourceType: WILDCARD, action: WILDCARD }],
  application_connect: allow({ workspace: ['application_connect'] }),
};

function scopePermissions(name: string): readonly Permission[] | undefined {
  const bare = name.startsWith('coder:') ? name.slice('coder:'.length) : name;
  const named = NAMED[bare];
  if (named) return named;
  const [type, action, ...rest] = name.split(':');
  if (rest.length || action === undefined || !isResourceType(type)) return undefined;
  if (action === WILDCARD || isActionOf(type, action)) return [{ negate: false, resourceType: type, action }];
  return undefined;
}

export function isScopeName(name: string): boolean {
  return scopePermissions(name) !== undefined;
}

/**
 * The scope granted by a set of scope names (their union), limited to the allow list.
 * Throws on an unknown name: stored scopes are validated on the way in, so one here is corrupt.
 */
export function scopeFromNames(
  names: readonly string[],
  allowList: readonly AllowListEntry[] = EVERYTHING,
): Scope {
  const site = names.flatMap((name) => {
    const perms = scopePermissions(name);
    if (!perms) throw new Error(`unknown API key scope "${name}"`);
    return perms;
  });
  const name = names.join(' ');
  return { name, role: { name: `scope:${name}`, displayName: '', site, user: [], byOrgId: {} }, allowList };
}

/** The scope of a session with no key restrictions. */
export const SCOPE_ALL: Scope = scopeFromNames(['coder:all']);
